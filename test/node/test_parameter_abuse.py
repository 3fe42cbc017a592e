"""Parameter abuse on the real node: wrong types, out-of-range and non-finite values, read-only and undeclared
names, inconsistent sets (a grid larger than max_cells), and rapid atomic changes while frames flow.

Every request is refused with a reason or applied whole: no exception escapes, no frame fails, and no output ever
shows a mix of two parameter sets.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from nav_msgs.msg import OccupancyGrid
from rcl_interfaces.srv import SetParameters, SetParametersAtomically
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

from stdc_ros.drivable import DrivableConfig
from stdc_ros.node.parameters import build_config, current_values

pytestmark = [pytest.mark.ros]

P = Parameter
T = Parameter.Type

# (what, parameters sent in one request); each request must be refused as a whole.
REFUSED: list[tuple[str, list[Parameter]]] = [
    ("string for a double", [P("overlay.alpha", T.STRING, "high")]),
    ("bool for a double", [P("overlay.alpha", T.BOOL, True)]),
    ("array for a double", [P("overlay.alpha", T.DOUBLE_ARRAY, [0.1, 0.2])]),
    ("int for a bool", [P("publish.labels", T.INTEGER, 1)]),
    ("double for an int", [P("max_image_pixels", T.DOUBLE, 1.5)]),
    ("string for an int array", [P("drivable.drivable_classes", T.STRING, "road")]),
    ("undeclare a parameter", [P("overlay.alpha", T.NOT_SET, None)]),
    ("NaN", [P("overlay.alpha", T.DOUBLE, math.nan)]),
    ("+inf", [P("drivable.camera_height", T.DOUBLE, math.inf)]),
    ("-inf", [P("min_confidence", T.DOUBLE, -math.inf)]),
    ("alpha above 1", [P("overlay.alpha", T.DOUBLE, 1.5)]),
    ("negative confidence", [P("min_confidence", T.DOUBLE, -0.1)]),
    ("zero pixels", [P("max_image_pixels", T.INTEGER, 0)]),
    ("int 0 for a double range", [P("drivable.grid_resolution", T.INTEGER, 0)]),
    ("timeout 0", [P("diagnostics.no_input_timeout", T.DOUBLE, 0.0)]),
    ("even morphology kernel", [P("drivable.morph_kernel", T.INTEGER, 4)]),
    ("connectivity 6", [P("drivable.connectivity", T.INTEGER, 6)]),
    ("one scan beam", [P("drivable.scan_beams", T.INTEGER, 1)]),
    ("no drivable class", [P("drivable.drivable_classes", T.INTEGER_ARRAY, [])]),
    ("empty ground frame", [P("drivable.ground_frame", T.STRING, "")]),
    ("frame id with a space", [P("drivable.ground_frame", T.STRING, "base link")]),
    ("grid back edge beyond the front", [P("drivable.grid_x_min", T.DOUBLE, 50.0)]),
    ("grid larger than max_cells", [P("drivable.grid_resolution", T.DOUBLE, 0.01)]),
    ("max_cells below the current grid", [P("drivable.max_cells", T.INTEGER, 1000)]),
    (
        "inconsistent pair",
        [P("drivable.grid_x_min", T.DOUBLE, 30.0), P("drivable.grid_x_max", T.DOUBLE, 20.0)],
    ),
    ("read-only model_path", [P("model_path", T.STRING, "/etc/passwd")]),
    ("read-only backend", [P("backend", T.STRING, "torch")]),
    ("read-only threads", [P("threads", T.INTEGER, 64)]),
    ("read-only qos depth", [P("qos.depth", T.INTEGER, 100)]),
    ("read-only label names", [P("labels.names", T.STRING_ARRAY, ["a"])]),
    ("a good value next to a bad one", [P("overlay.alpha", T.DOUBLE, 0.9), P("drivable.morph_kernel", T.INTEGER, 4)]),
]


def parameter_values(node: Any) -> dict[str, Any]:
    return {p.name: p.value for p in node.get_parameters(sorted(current_values(node)))}


def test_abusive_requests_are_refused_whole_with_a_reason_and_change_nothing(
    harness: Any, kit: Any, tiny_onnx: Path
) -> None:
    name = f"rel_param_{harness.domain_id}"
    node = harness.start_node(name, {"model_path": str(tiny_onnx), "autostart": True})
    before_config, before_values = node.config, parameter_values(node)
    atomic = SetParametersAtomically.Request()
    for what, params in REFUSED:
        atomic.parameters = [p.to_parameter_msg() for p in params]
        result = call(harness, SetParametersAtomically, f"/{name}/set_parameters_atomically", atomic).result
        assert not result.successful, f"accepted: {what}"
        assert result.reason, f"refused without a reason: {what}"
        assert node.config == before_config, f"config changed by a refused request: {what}"
    # The same through the plain service: each parameter on its own, refused one by one.
    plain = SetParameters.Request(parameters=[p.to_parameter_msg() for _, ps in REFUSED[:12] for p in ps[:1]])
    results = call(harness, SetParameters, f"/{name}/set_parameters", plain).results
    assert len(results) == 12 and not any(r.successful for r in results)
    undeclared = SetParameters.Request(parameters=[P("no_such.parameter", T.DOUBLE, 1.0).to_parameter_msg()])
    assert not call(harness, SetParameters, f"/{name}/set_parameters", undeclared).results[0].successful
    assert parameter_values(node) == before_values and node.config == before_config

    # A set that is consistent only as a whole goes through atomically (alone, max_cells=1000 is refused).
    coarse = [P("drivable.max_cells", T.INTEGER, 1000), P("drivable.grid_resolution", T.DOUBLE, 1.0)]
    atomic.parameters = [p.to_parameter_msg() for p in coarse]
    assert call(harness, SetParametersAtomically, f"/{name}/set_parameters_atomically", atomic).result.successful
    assert (node.config.drivable.max_cells, node.config.drivable.grid_resolution) == (1000, 1.0)
    assert node.config == build_config(current_values(node)), "config and parameters disagree"

    # The node is unharmed: a frame goes through.
    labels = harness.subscribe(Image, f"/{name}/out/labels")
    pub = harness.publisher(Image, f"/{name}/in/image")
    harness.connect(pub, node, [node._outputs.labels])
    pub.publish(kit.raw_message(kit.scene(), 77))
    assert kit.wait_for(lambda: 77 in labels.stamps(), 10.0)
    assert node.stats.snapshot().failed == 0 and node.state == "active"


def call(harness: Any, srv_type: Any, service: str, request: Any, timeout: float = 10.0) -> Any:
    client = harness.client.create_client(srv_type, service)
    try:
        assert client.wait_for_service(timeout_sec=8.0), f"{service} not available"
        future = client.call_async(request)
        assert harness_wait(future, timeout), f"{service} did not answer"
        return future.result()
    finally:
        harness.client.destroy_client(client)


def harness_wait(future: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not future.done():
        time.sleep(0.01)
    return future.done()


# Grid profiles switched atomically while frames flow; every grid published must match exactly one of them.
PROFILES: list[dict[str, Any]] = [
    {"grid_resolution": 0.1, "grid_x_min": 0.0, "grid_x_max": 40.0, "grid_y_min": -10.0, "grid_y_max": 10.0,
     "ground_frame": "base_footprint", "max_cells": 1_000_000},
    {"grid_resolution": 0.05, "grid_x_min": 0.0, "grid_x_max": 30.0, "grid_y_min": -5.0, "grid_y_max": 5.0,
     "ground_frame": "grid_b", "max_cells": 200_000},
    {"grid_resolution": 0.5, "grid_x_min": -5.0, "grid_x_max": 50.0, "grid_y_min": -20.0, "grid_y_max": 20.0,
     "ground_frame": "grid_c", "max_cells": 50_000},
]  # fmt: skip
INVALID_SETS: list[dict[str, Any]] = [
    {"grid_resolution": 0.01, "max_cells": 1000},  # grid far above max_cells
    {"grid_x_min": 60.0, "grid_x_max": 10.0, "ground_frame": "bad"},
    {"grid_resolution": 0.2, "ground_frame": "two words"},
]


def signature(profile: dict[str, Any]) -> tuple:
    c = DrivableConfig(**{**DrivableConfig().to_mapping(), **profile})
    return (c.ground_frame, round(c.grid_resolution, 6), c.grid_width, c.grid_height, c.grid_x_min, c.grid_y_min)


def grid_signature(msg: OccupancyGrid) -> tuple:
    i = msg.info
    return (
        msg.header.frame_id,
        round(i.resolution, 6),
        i.width,
        i.height,
        round(i.origin.position.x, 6),
        round(i.origin.position.y, 6),
    )


def test_rapid_atomic_changes_while_frames_flow_never_show_a_half_applied_set(
    harness: Any, kit: Any, tiny_onnx: Path
) -> None:
    name = f"rel_rapid_{harness.domain_id}"
    node = harness.start_node(name, {"model_path": str(tiny_onnx), "autostart": True, "qos.depth": 1})
    grids = harness.subscribe(OccupancyGrid, f"/{name}/out/drivable_grid")
    labels = harness.subscribe(Image, f"/{name}/out/labels")
    pub = harness.publisher(Image, f"/{name}/in/image")
    harness.connect(pub, node, [node._outputs.labels, node._drivable.grid])
    frame = kit.raw_message(kit.scene(), 1)
    stop = threading.Event()
    sent: list[int] = []

    def camera() -> None:  # ~30 Hz while the parameters change
        stamp = 1000
        while not stop.is_set():
            stamp += 1
            pub.publish(kit.set_stamp(frame, stamp))
            sent.append(stamp)
            time.sleep(0.033)

    thread = threading.Thread(target=camera, daemon=True)
    thread.start()
    accepted = refused = 0
    try:
        for i in range(45):
            if i % 4 == 3:
                bad = INVALID_SETS[i % len(INVALID_SETS)]
                results = node.set_parameters_atomically([P(f"drivable.{k}", value=v) for k, v in bad.items()])
                refused += int(not results.successful)
                assert not results.successful, f"accepted an invalid set {bad}"
            else:
                profile = PROFILES[i % len(PROFILES)]
                alpha = P("overlay.alpha", value=(i % 10) / 10)
                params = [alpha] + [P(f"drivable.{k}", value=v) for k, v in profile.items()]
                result = node.set_parameters_atomically(params)
                assert result.successful, result.reason
                accepted += 1
                assert node.config.drivable.ground_frame == profile["ground_frame"]
            time.sleep(0.03 + 0.02 * (i % 3))
    finally:
        stop.set()
        thread.join(timeout=2.0)
    kit.wait_for(lambda: max(labels.stamps(), default=0) >= sent[-1] - 3, 5.0)
    allowed = {signature(p) for p in PROFILES}
    seen = [grid_signature(m) for m in grids.messages]
    assert len(seen) >= 10, f"only {len(seen)} grids came out while {len(sent)} frames were sent"
    mixed = [s for s in seen if s not in allowed]
    assert not mixed, f"grids from half-applied parameter sets: {mixed[:3]}"
    assert len(set(seen)) >= 2, "the profile changes never showed in the output"
    assert (accepted, refused) == (34, 11)
    snapshot = node.stats.snapshot()
    assert snapshot.failed == 0 and snapshot.rejected == 0 and node.state == "active"
    assert node.config == build_config(current_values(node)), "config and parameters disagree"
