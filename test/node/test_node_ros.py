"""The segmentation node over real rclpy and DDS, one ROS_DOMAIN_ID per test, a separate client node talking to it.

The node runs the tiny real ONNX model (network input 96x128) on 60x80 frames; every test waits for discovery
before it publishes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from nav_msgs.msg import OccupancyGrid
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters, SetParameters, SetParametersAtomically
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan

from stdc_ros.errors import InferenceError
from stdc_ros.image_codec import SUPPORTED_ENCODINGS, decode_image, encode_compressed
from stdc_ros.runtime import SegmentationRuntime, create_runtime
from stdc_ros.runtime.base import Segmentation

pytestmark = [pytest.mark.ros]

EXACT_ENCODINGS = {"rgb8", "bgr8", "rgba8", "bgra8", "8uc3", "8uc4", "rgb16", "bgr16", "rgba16", "bgra16"}


def labels_of(msg: Image) -> np.ndarray:
    assert msg.encoding == "mono8" and msg.step == msg.width
    return np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width)


def for_stamp(collector: Any, ns: int, frames: Any) -> Any:
    return collector.find(lambda m: frames.stamp(m) == ns)


def wait_status(ros: Any, diagnostics: Any, node_name: str, predicate: Any, timeout: float = 6.0) -> Any:
    def match() -> Any:
        for array in reversed(diagnostics.messages):
            for status in array.status:
                if node_name in status.name and predicate(status):
                    return status
        return None

    return ros.wait_for(match, timeout)


def values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


@pytest.fixture(scope="module")
def reference_runtime(tiny_onnx: Path) -> SegmentationRuntime:
    return create_runtime("onnxruntime", tiny_onnx, threads=1)


# ------------------------------------------------------------------------------------------------ image inputs
def test_every_encoding_end_to_end_with_header_kept(
    ros: Any, frames: Any, tiny_onnx: Path, reference_runtime: SegmentationRuntime
) -> None:
    name = f"seg_enc_{ros.domain_id}"
    node = ros.start_node(name, {"model_path": str(tiny_onnx), "autostart": True})
    assert node.state == "active"
    labels_out = ros.subscribe(Image, f"/{name}/out/labels")
    pub = ros.publisher(Image, f"/{name}/in/image")
    ros.wait_matched(pub, [f"/{name}/out/labels"])
    ros.wait_output_subscribed(node, "labels")
    rgb = frames.image()
    reference = reference_runtime.infer(rgb).labels
    for i, encoding in enumerate(SUPPORTED_ENCODINGS):
        padding = 3 if i % 2 else 0  # rows with padding for half of the encodings
        big_endian = i % 4 == 1
        msg = frames.message(rgb, encoding, stamp_ns=1000 + i, row_padding=padding, big_endian=big_endian)
        pub.publish(msg)
        out = ros.wait_for(lambda ns=1000 + i: for_stamp(labels_out, ns, frames), timeout=10.0)
        assert out is not None, f"no labels for {encoding}"
        assert out.header.frame_id == "camera_optical"
        got = labels_of(out)
        assert got.shape == rgb.shape[:2], encoding
        decoded, order = decode_image(encoding, msg.height, msg.width, msg.step, big_endian, bytes(msg.data))
        assert np.array_equal(got, reference_runtime.infer(decoded, order).labels), encoding
        if encoding in EXACT_ENCODINGS:
            assert np.array_equal(got, reference), encoding
    snapshot = node.stats.snapshot()
    assert snapshot.processed == len(SUPPORTED_ENCODINGS) and snapshot.rejected == 0


def test_all_outputs_carry_the_input_header_and_camera_info_matches_the_mask(
    ros: Any, frames: Any, tiny_onnx: Path
) -> None:
    name = f"seg_out_{ros.domain_id}"
    node = ros.start_node(name, {"model_path": str(tiny_onnx), "autostart": True, "overlay.alpha": 0.25})
    topics = ["labels", "labels/compressed", "color", "overlay", "camera_info"]
    types = [Image, CompressedImage, Image, Image, CameraInfo]
    collectors = {t: ros.subscribe(m, f"/{name}/out/{t}") for t, m in zip(topics, types)}
    pub = ros.publisher(Image, f"/{name}/in/image")
    info_pub = ros.publisher(CameraInfo, f"/{name}/in/camera_info")
    ros.wait_matched(pub, [f"/{name}/out/{t}" for t in topics])
    ros.wait_matched(info_pub)
    for attr in ("labels", "labels_png", "color", "overlay", "camera_info"):
        ros.wait_output_subscribed(node, attr)
    info = CameraInfo(width=160, height=120)  # calibrated at twice the image size
    info.k = [100.0, 0.0, 79.5, 0.0, 100.0, 59.5, 0.0, 0.0, 1.0]
    info.p = [100.0, 0.0, 79.5, 0.0, 0.0, 100.0, 59.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    info_pub.publish(info)
    assert ros.wait_for(lambda: node._camera_info is not None)
    rgb = frames.image()
    pub.publish(frames.message(rgb, "bgr8", stamp_ns=7_000_000_123, frame_id="front_optical"))
    for topic in topics:
        assert ros.wait_for(lambda t=topic: collectors[t].messages, 10.0), f"nothing on ~/out/{topic}"
    for topic in topics:
        msg = collectors[topic].messages[-1]
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (7, 123), topic
        assert msg.header.frame_id == "front_optical", topic
    labels = labels_of(collectors["labels"].messages[-1])
    png = np.frombuffer(bytes(collectors["labels/compressed"].messages[-1].data), np.uint8)
    import cv2

    assert np.array_equal(cv2.imdecode(png, cv2.IMREAD_UNCHANGED), labels)
    color = collectors["color"].messages[-1]
    overlay = collectors["overlay"].messages[-1]
    assert (color.encoding, overlay.encoding, color.height, overlay.width) == ("rgb8", "rgb8", 60, 80)
    out_info = collectors["camera_info"].messages[-1]
    assert (out_info.width, out_info.height) == (80, 60)
    assert out_info.k[0] == pytest.approx(50.0) and out_info.k[2] == pytest.approx(39.5)


def test_compressed_input(ros: Any, frames: Any, tiny_onnx: Path, reference_runtime: SegmentationRuntime) -> None:
    name = f"seg_jpeg_{ros.domain_id}"
    node = ros.start_node(name, {"model_path": str(tiny_onnx), "autostart": True, "image_transport": "compressed"})
    labels_out = ros.subscribe(Image, f"/{name}/out/labels")
    pub = ros.publisher(CompressedImage, f"/{name}/in/image/compressed")
    ros.wait_matched(pub, [f"/{name}/out/labels"])
    ros.wait_output_subscribed(node, "labels")
    rgb = frames.image()
    for i, fmt in enumerate(("png", "jpeg")):
        msg = CompressedImage(format=fmt, data=encode_compressed(rgb, fmt))
        msg.header.stamp.nanosec = 500 + i
        msg.header.frame_id = "cam"
        pub.publish(msg)
        out = ros.wait_for(lambda ns=500 + i: for_stamp(labels_out, ns, frames), 10.0)
        assert out is not None and out.header.frame_id == "cam" and (out.height, out.width) == (60, 60 + 20)
        if fmt == "png":  # lossless: same labels as the raw frame
            assert np.array_equal(labels_of(out), reference_runtime.infer(rgb).labels)


def test_bad_messages_are_logged_skipped_and_the_node_keeps_running(ros: Any, frames: Any, tiny_onnx: Path) -> None:
    name = f"seg_bad_{ros.domain_id}"
    node = ros.start_node(name, {"model_path": str(tiny_onnx), "autostart": True, "diagnostics.no_input_timeout": 0.5})
    diagnostics = ros.subscribe(DiagnosticArray, "/diagnostics")
    labels_out = ros.subscribe(Image, f"/{name}/out/labels")
    pub = ros.publisher(Image, f"/{name}/in/image")
    ros.wait_matched(pub, [f"/{name}/out/labels", "/diagnostics"])
    ros.wait_output_subscribed(node, "labels")
    # Nothing published yet: after no_input_timeout the status warns, naming the topic.
    warn = wait_status(ros, diagnostics, name, lambda s: s.level == DiagnosticStatus.WARN and "no input" in s.message)
    assert warn is not None and f"/{name}/in/image" in warn.message

    rgb = frames.image()
    good = frames.message(rgb, "rgb8", stamp_ns=10)
    short = frames.message(rgb, "rgb8", stamp_ns=11)
    short.data = bytes(short.data)[:-100]
    unknown = frames.message(rgb, "rgb8", stamp_ns=12)
    unknown.encoding = "hsv8"
    empty = Image(encoding="rgb8")
    empty.header.stamp.nanosec = 13
    narrow_step = frames.message(rgb, "rgb8", stamp_ns=14)
    narrow_step.step = 10
    for i, msg in enumerate((short, unknown, empty, narrow_step)):
        pub.publish(msg)
        assert ros.wait_for(lambda n=i + 1: node.stats.snapshot().rejected == n), f"frame {i} not rejected"
    status = wait_status(ros, diagnostics, name, lambda s: "rejected" in s.message)
    assert status is not None and status.level == DiagnosticStatus.WARN
    assert values(status)["frames_rejected"] == "4"
    pub.publish(good)
    assert ros.wait_for(lambda: for_stamp(labels_out, 10, frames), 10.0)
    assert labels_out.messages and all(frames.stamp(m) == 10 for m in labels_out.messages)
    assert node.state == "active"


# ------------------------------------------------------------------------------------------------ load
class SlowRuntime(SegmentationRuntime):
    """A genuinely slow backend: the real runtime plus a fixed delay per frame (as a big model on a small GPU)."""

    backend = "slow"

    def __init__(self, inner: SegmentationRuntime, delay_s: float) -> None:
        super().__init__(inner.model_path, inner.input_size, inner.num_classes)
        self.inner, self.delay_s = inner, delay_s

    def infer(self, image: np.ndarray, channel_order: Any = "rgb", confidence: bool = False) -> Segmentation:
        time.sleep(self.delay_s)
        return self.inner.infer(image, channel_order, confidence)

    def close(self) -> None:
        self.inner.close()


def test_a_30hz_stream_into_a_slow_backend_drops_old_frames_and_latency_stays_bounded(
    ros: Any, frames: Any, tiny_onnx: Path
) -> None:
    name = f"seg_slow_{ros.domain_id}"
    delay = 0.15

    def factory(backend: str, path: Path, size: Any, device: str, **options: Any) -> SegmentationRuntime:
        return SlowRuntime(create_runtime(backend, path, size, device, **options), delay)

    node = ros.start_node(name, {"model_path": str(tiny_onnx), "autostart": True}, runtime_factory=factory)
    labels_out = ros.subscribe(Image, f"/{name}/out/labels")
    pub = ros.publisher(Image, f"/{name}/in/image", reliable=False, depth=1)
    ros.wait_matched(pub, [f"/{name}/out/labels"])
    ros.wait_output_subscribed(node, "labels")
    state_client = ros.client.create_client(GetState, f"/{name}/get_state")
    assert state_client.wait_for_service(timeout_sec=5.0)
    rgb = frames.image()
    sent: dict[int, float] = {}
    count = 45  # 1.5 s at 30 Hz, about 10x what the backend can do
    answered: list[float] = []
    start = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, start + i / 30.0 - time.monotonic()))
        sent[i] = time.monotonic()
        pub.publish(frames.message(rgb, "rgb8", stamp_ns=i))
        if i == 20:  # the executor answers services while the worker is busy with a frame
            asked = time.monotonic()
            state_client.call_async(GetState.Request()).add_done_callback(
                lambda _, t0=asked: answered.append(time.monotonic() - t0)
            )
    assert ros.wait_for(lambda: for_stamp(labels_out, count - 1, frames), 5.0), "the newest frame was not processed"
    arrivals = {frames.stamp(m): t for t, m in labels_out.items}
    latencies = [arrivals[i] - sent[i] for i in arrivals]
    snapshot = node.stats.snapshot()
    assert len(arrivals) < count / 2, "a slow backend cannot have processed most frames"
    assert snapshot.dropped >= count - len(arrivals) - 5  # drops are counted (a few may be lost in transport)
    assert snapshot.received + 0 >= len(arrivals)
    # With a queue the last frame would wait for every earlier one (> 3 s); with the slot it waits one frame.
    assert max(latencies) < 1.0, f"latency grew: {max(latencies):.2f} s"
    assert sorted(arrivals) == list(arrivals), "frames must come out in order"
    assert answered and answered[0] < 0.1, f"service answer took {answered} s while inference ran"


# ------------------------------------------------------------------------------------------------ parameters
def set_parameters(ros: Any, name: str, params: list[Parameter], atomically: bool = False) -> list[Any]:
    if atomically:
        request = SetParametersAtomically.Request(parameters=[p.to_parameter_msg() for p in params])
        return [ros.call(SetParametersAtomically, f"/{name}/set_parameters_atomically", request).result]
    request = SetParameters.Request(parameters=[p.to_parameter_msg() for p in params])
    return ros.call(SetParameters, f"/{name}/set_parameters", request).results


def test_parameters_change_live_through_the_service_and_invalid_ones_are_refused(
    ros: Any, frames: Any, tiny_onnx: Path
) -> None:
    name = f"seg_param_{ros.domain_id}"
    node = ros.start_node(name, {"model_path": str(tiny_onnx), "autostart": True, "overlay.alpha": 0.5})
    overlay_out = ros.subscribe(Image, f"/{name}/out/overlay")
    labels_out = ros.subscribe(Image, f"/{name}/out/labels")

    [ok] = set_parameters(ros, name, [Parameter("overlay.alpha", value=0.0)])
    assert ok.successful and node.config.overlay_alpha == 0.0
    [ok] = set_parameters(ros, name, [Parameter("drivable.camera_height", value=2)])  # an int for a double
    assert ok.successful and node.config.drivable.camera_height == 2.0

    refused = set_parameters(
        ros,
        name,
        [
            Parameter("overlay.alpha", value=1.5),
            Parameter("backend", value="torch"),
            Parameter("drivable.morph_kernel", value=4),
            Parameter("publish.color", value="yes"),
        ],
    )
    assert [r.successful for r in refused] == [False] * 4
    assert "overlay.alpha" in refused[0].reason
    assert "read-only" in refused[1].reason.lower() or "read only" in refused[1].reason.lower()
    assert "odd" in refused[2].reason
    assert "type" in refused[3].reason.lower()
    # A set with one bad value is refused whole: nothing half-applied.
    [result] = set_parameters(
        ros,
        name,
        [Parameter("overlay.alpha", value=0.9), Parameter("drivable.grid_x_max", value=-50.0)],
        atomically=True,
    )
    assert not result.successful and "grid_x_max" in result.reason
    assert node.config.overlay_alpha == 0.0 and node.config.drivable.grid_x_max == 40.0
    [result] = set_parameters(
        ros,
        name,
        [Parameter("drivable.grid_x_min", value=-60.0), Parameter("drivable.grid_x_max", value=-50.0)],
        atomically=True,
    )
    assert result.successful and (node.config.drivable.grid_x_min, node.config.drivable.grid_x_max) == (-60.0, -50.0)

    # Label names and colours are exposed read-only.
    request = GetParameters.Request(names=["labels.names", "labels.colors", "backend"])
    got = ros.call(GetParameters, f"/{name}/get_parameters", request).values
    assert got[0].type == ParameterType.PARAMETER_STRING_ARRAY and list(got[0].string_array_value)[3] == "road"
    assert list(got[1].integer_array_value)[9:12] == [128, 64, 128]
    assert got[2].string_value == "onnxruntime"

    # The new alpha is used by the next frame: alpha 0 -> the overlay is the image itself.
    pub = ros.publisher(Image, f"/{name}/in/image")
    ros.wait_matched(pub, [f"/{name}/out/overlay"])
    ros.wait_output_subscribed(node, "overlay")
    ros.wait_output_subscribed(node, "labels")
    rgb = frames.image()
    pub.publish(frames.message(rgb, "rgb8", stamp_ns=3))
    out = ros.wait_for(lambda: for_stamp(overlay_out, 3, frames), 10.0)
    assert out is not None
    assert np.array_equal(np.frombuffer(bytes(out.data), np.uint8).reshape(60, 80, 3), rgb)

    # Post-processing tuned live: with min_confidence 1 no pixel is sure enough, all become 255 (unknown).
    [ok] = set_parameters(ros, name, [Parameter("min_confidence", value=1.0)])
    assert ok.successful
    pub.publish(frames.message(rgb, "rgb8", stamp_ns=4))
    out = ros.wait_for(lambda: for_stamp(labels_out, 4, frames), 10.0)
    assert out is not None and np.mean(labels_of(out) == 255) > 0.99


# ------------------------------------------------------------------------------------------------ lifecycle
def change_state(ros: Any, name: str, transition: int) -> bool:
    request = ChangeState.Request(transition=Transition(id=transition))
    return ros.call(ChangeState, f"/{name}/change_state", request, timeout=30.0).success


def get_state(ros: Any, name: str) -> int:
    return ros.call(GetState, f"/{name}/get_state", GetState.Request()).current_state.id


def test_lifecycle_transitions_through_the_services(ros: Any, frames: Any, tiny_onnx: Path) -> None:
    name = f"seg_life_{ros.domain_id}"
    node = ros.start_node(name, {"model_path": str(tiny_onnx)})
    labels_out = ros.subscribe(Image, f"/{name}/out/labels")
    pub = ros.publisher(Image, f"/{name}/in/image")
    rgb = frames.image()
    assert get_state(ros, name) == State.PRIMARY_STATE_UNCONFIGURED
    assert change_state(ros, name, Transition.TRANSITION_CONFIGURE)
    assert get_state(ros, name) == State.PRIMARY_STATE_INACTIVE and node._runtime is not None
    assert change_state(ros, name, Transition.TRANSITION_ACTIVATE)
    assert get_state(ros, name) == State.PRIMARY_STATE_ACTIVE
    ros.wait_matched(pub, [f"/{name}/out/labels"])
    ros.wait_output_subscribed(node, "labels")
    pub.publish(frames.message(rgb, stamp_ns=1))
    assert ros.wait_for(lambda: for_stamp(labels_out, 1, frames), 10.0)

    assert change_state(ros, name, Transition.TRANSITION_DEACTIVATE)
    assert get_state(ros, name) == State.PRIMARY_STATE_INACTIVE
    assert ros.wait_for(lambda: pub.get_subscription_count() == 0), "deactivate must unsubscribe"
    pub.publish(frames.message(rgb, stamp_ns=2))
    time.sleep(0.5)
    assert for_stamp(labels_out, 2, frames) is None

    assert change_state(ros, name, Transition.TRANSITION_CLEANUP)
    assert get_state(ros, name) == State.PRIMARY_STATE_UNCONFIGURED and node._runtime is None
    assert change_state(ros, name, Transition.TRANSITION_CONFIGURE)  # configure again after cleanup
    assert change_state(ros, name, Transition.TRANSITION_ACTIVATE)
    ros.wait_matched(pub)
    ros.wait_output_subscribed(node, "labels")
    pub.publish(frames.message(rgb, stamp_ns=3))
    assert ros.wait_for(lambda: for_stamp(labels_out, 3, frames), 10.0)
    assert change_state(ros, name, Transition.TRANSITION_ACTIVE_SHUTDOWN)
    assert get_state(ros, name) == State.PRIMARY_STATE_FINALIZED


@pytest.mark.parametrize("model", ["missing", "corrupt"])
def test_a_bad_model_fails_configure_with_one_clear_error(
    ros: Any, corrupt_onnx: Path, tmp_path: Path, model: str
) -> None:
    name = f"seg_badmodel_{model}_{ros.domain_id}"
    path = corrupt_onnx if model == "corrupt" else tmp_path / "nowhere" / "model.onnx"
    node = ros.start_node(name, {"model_path": str(path), "autostart": True})  # autostart: configure fails
    diagnostics = ros.subscribe(DiagnosticArray, "/diagnostics")
    assert node.state == "unconfigured"
    assert get_state(ros, name) == State.PRIMARY_STATE_UNCONFIGURED
    assert not change_state(ros, name, Transition.TRANSITION_CONFIGURE)
    assert get_state(ros, name) == State.PRIMARY_STATE_UNCONFIGURED
    assert "\n" not in node._configure_error and str(path.name) in node._configure_error
    status = wait_status(ros, diagnostics, name, lambda s: s.level == DiagnosticStatus.ERROR)
    assert status is not None and "configure failed" in status.message


def test_an_inference_error_is_an_error_until_a_frame_succeeds(ros: Any, frames: Any, tiny_onnx: Path) -> None:
    name = f"seg_fail_{ros.domain_id}"

    class FailingRuntime(SlowRuntime):
        """Fails on frames narrower than 64 px (a backend hitting a shape it cannot run), real otherwise."""

        def infer(self, image: np.ndarray, channel_order: Any = "rgb", confidence: bool = False) -> Segmentation:
            if image.shape[1] < 64:
                raise InferenceError("backend cannot run this shape")
            return super().infer(image, channel_order, confidence)

    def factory(backend: str, path: Path, size: Any, device: str, **options: Any) -> SegmentationRuntime:
        return FailingRuntime(create_runtime(backend, path, size, device, **options), 0.0)

    node = ros.start_node(name, {"model_path": str(tiny_onnx), "autostart": True}, runtime_factory=factory)
    diagnostics = ros.subscribe(DiagnosticArray, "/diagnostics")
    labels_out = ros.subscribe(Image, f"/{name}/out/labels")
    pub = ros.publisher(Image, f"/{name}/in/image")
    ros.wait_matched(pub, [f"/{name}/out/labels"])
    ros.wait_output_subscribed(node, "labels")
    pub.publish(frames.message(frames.image(60, 48), stamp_ns=1))
    error = wait_status(ros, diagnostics, name, lambda s: s.level == DiagnosticStatus.ERROR)
    assert error is not None and "cannot run this shape" in error.message
    diagnostics.items.clear()
    now = node.get_clock().now().nanoseconds  # a real stamp: latency is measured against the node clock
    pub.publish(frames.message(frames.image(), stamp_ns=now))
    assert ros.wait_for(lambda: for_stamp(labels_out, now, frames), 10.0)
    ok = wait_status(ros, diagnostics, name, lambda s: True)
    assert ok is not None and ok.level == DiagnosticStatus.OK, ok.message
    report = values(ok)
    assert report["frames_failed"] == "1" and report["frames_processed"] == "1"
    assert float(report["inference_ms_p50"]) > 0 and report["backend"] == "onnxruntime"
    assert 0 < float(report["latency_ms_p50"]) < 1000


# ------------------------------------------------------------------------------------------------ drivable area
def test_drivable_grid_and_scan_carry_the_image_stamp_and_the_configured_frames(
    ros: Any, frames: Any, tiny_onnx: Path
) -> None:
    name = f"seg_driv_{ros.domain_id}"
    params = {
        "model_path": str(tiny_onnx),
        "autostart": True,
        "drivable.ground_frame": "vehicle_ground",
        "drivable.drivable_classes": list(range(11)),  # the random model's classes all count: a non-empty area
        "drivable.grid_resolution": 0.5,
        "drivable.scan_beams": 31,
    }
    node = ros.start_node(name, params)
    grids = ros.subscribe(OccupancyGrid, f"/{name}/out/drivable_grid")
    scans = ros.subscribe(LaserScan, f"/{name}/out/freespace_scan")
    masks = ros.subscribe(Image, f"/{name}/out/drivable_mask")
    pub = ros.publisher(Image, f"/{name}/in/image")
    ros.wait_matched(pub, [f"/{name}/out/drivable_grid", f"/{name}/out/freespace_scan"])
    assert ros.wait_for(
        lambda: node._drivable.grid.get_subscription_count() and node._drivable.scan.get_subscription_count()
    )
    assert ros.wait_for(lambda: node._drivable.mask.get_subscription_count())
    pub.publish(frames.message(frames.image(), stamp_ns=42_000_000_777, frame_id="front_optical"))
    grid = ros.wait_for(lambda: grids.messages and grids.messages[-1], 10.0)
    scan = ros.wait_for(lambda: scans.messages and scans.messages[-1], 10.0)
    mask = ros.wait_for(lambda: masks.messages and masks.messages[-1], 10.0)
    assert grid and scan and mask
    for msg in (grid, scan, mask):
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (42, 777)
    assert grid.header.frame_id == "vehicle_ground" and scan.header.frame_id == "vehicle_ground"
    assert mask.header.frame_id == "front_optical" and (mask.height, mask.width) == (60, 80)
    assert grid.info.resolution == pytest.approx(0.5) and len(grid.data) == grid.info.width * grid.info.height
    assert len(scan.ranges) == 31
    # Tuned live: the next grid uses the new frame id.
    [ok] = set_parameters(ros, name, [Parameter("drivable.ground_frame", value="base_link")])
    assert ok.successful
    pub.publish(frames.message(frames.image(), stamp_ns=43_000_000_000))
    assert ros.wait_for(lambda: grids.find(lambda m: m.header.frame_id == "base_link"), 10.0)


# ------------------------------------------------------------------------------------------------ sim time
def test_latency_follows_the_clock_topic_with_use_sim_time(ros: Any, frames: Any, tiny_onnx: Path) -> None:
    from rosgraph_msgs.msg import Clock

    name = f"seg_sim_{ros.domain_id}"
    clock_pub = ros.publisher(Clock, "/clock")
    node = ros.start_node(name, {"model_path": str(tiny_onnx), "autostart": True, "use_sim_time": True})
    labels_out = ros.subscribe(Image, f"/{name}/out/labels")
    pub = ros.publisher(Image, f"/{name}/in/image")
    ros.wait_matched(pub, [f"/{name}/out/labels"])
    ros.wait_matched(clock_pub)
    ros.wait_output_subscribed(node, "labels")
    sim_now = Clock()
    sim_now.clock.sec = 1000  # a bag recorded long ago: wall-clock latency would be years
    clock_pub.publish(sim_now)
    assert ros.wait_for(lambda: node.get_clock().now().nanoseconds == 1000 * 10**9)
    pub.publish(frames.message(frames.image(), stamp_ns=999_750_000_000))  # 250 ms before the sim clock
    assert ros.wait_for(lambda: for_stamp(labels_out, 999_750_000_000, frames), 10.0)
    assert ros.wait_for(lambda: node.stats.snapshot().latency_ms_p50 is not None)
    assert node.stats.snapshot().latency_ms_p50 == pytest.approx(250.0, abs=1.0)
