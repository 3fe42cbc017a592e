"""The options of ``stdc-ros eval`` declared once (``cli_options``): the command's own arguments (EvalCommand:
bag, output folder, mode, model, backend) and everything else about an evaluation (EvalOptions)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..cli_options import negated, none_word, option

Mode = Literal["lossless", "realtime", "recorded"]
MODES: tuple[str, ...] = ("lossless", "realtime", "recorded")


def _param(item: str) -> tuple[str, str]:
    name, sep, value = item.partition(":=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME:=VALUE, got {item!r}")
    return name, value


@dataclass
class EvalOptions:
    """Everything about an evaluation except the bag, the output folder, the mode, the model and the backend."""

    # default /camera/image_raw, else the first image topic
    image_topic: str | None = option("--image-topic", default=None, help="camera topic (default /camera/image_raw)")
    # default /camera/labels_gt, else an Image topic with "gt" in its name
    gt_topic: str | None = option("--gt-topic", default=None, help="ground-truth topic (default /camera/labels_gt)")
    # recorded mode; default the first .../out/labels topic
    predictions_topic: str | None = option(
        "--predictions-topic", default=None, help="recorded mode: the labels topic to score"
    )
    # name in config/labels or a YAML path
    label_set: str = option("--labels", default="camvid", help="label set name or YAML (default camvid)")
    # stamp matching tolerance (results <-> frames <-> ground truth)
    tolerance_ms: float = option(
        "--tolerance-ms", default=5.0, parse=float, help="stamp matching tolerance (default 5)"
    )
    # realtime: speed factor on the recorded pace
    rate: float = option("--rate", default=1.0, parse=float, help="realtime: speed factor (default 1)")
    max_frames: int = option("--max-frames", default=0, parse=int, help="evaluate only the first N frames")  # 0: all
    node_name: str = option("--node-name", default="stdc_eval", help="node name (default stdc_eval)")
    domain_id: int | None = option(
        "--domain-id", default=None, parse=int, help="ROS_DOMAIN_ID (default: a fresh one)"
    )  # None: a fresh one for this run
    # extra `-p name:=value` for the node
    node_params: dict[str, str] = option(
        "-p",
        "--param",
        default_factory=dict,
        cli_default=[],
        parse=_param,
        action="append",
        convert=dict,
        metavar="NAME:=VALUE",
        help="extra node parameter (repeatable)",
    )
    params_file: Path | None = option("--params-file", default=None, parse=Path, help="node parameters YAML")
    node_command: tuple[str, ...] | None = None  # default: this Python running `-m stdc_ros.cli run`
    qos_depth: int = 10  # lossless: the node's input queue depth (reliable)
    # node start, model load and discovery
    ready_timeout_s: float = option("--ready-timeout", default=120.0, parse=float, help="seconds to wait for the node")
    # lossless: give up on a frame after this long
    frame_timeout_s: float = option("--frame-timeout", default=30.0, parse=float, help="lossless: seconds per frame")
    first_frame_timeout_s: float = 120.0  # lossless: the first frame may include warm-up (engine build)
    resend_after_s: float = 5.0  # lossless: publish a frame again if its result has not come
    # Fast DDS XML profile for the node and us ("packaged": config/dds/fastdds_hd.xml, a 32 MiB shared-memory
    # segment that holds 1080p frames and the node's outputs; None: as set). Left alone where the user configured
    # Fast DDS (docs/bags.md, DDS transport). Our own participant gets it only if it is the process's first.
    dds_profile: str | None = option(
        "--dds-profile",
        default="packaged",
        convert=none_word,
        help="Fast DDS XML profile for the node and the evaluator, applied unless Fast DDS is configured in the "
        "environment ('packaged': config/dds/fastdds_hd.xml; 'none': leave DDS alone)",
    )
    # FASTDDS_BUILTIN_TRANSPORTS for the node and us when dds_profile is None (None: as set), e.g.
    # "LARGE_DATA?max_msg_size=1MB&sockets_size=4MB&non_blocking=true" (docs/bags.md, DDS transport).
    dds_transport: str | None = None
    # ROS_AUTOMATIC_DISCOVERY_RANGE for the node and us (None: as set). LARGE_DATA finds participants by UDP
    # multicast only; where multicast loops back unreliably (lo without MULTICAST) 1 start in 40 never found the
    # node. LOCALHOST adds unicast discovery on 127.0.0.1 (0 in 200) and keeps the private node off the network.
    discovery_range: str | None = "LOCALHOST"
    settle_s: float = 2.0  # after the last frame: stop listening once nothing arrived for this long
    strip_frames: int = 6
    output_bag: bool = negated("--no-output-bag", help="do not write the output bag")
    plots: bool = negated("--no-plots")
    progress: bool = negated("--no-progress")


@dataclass(frozen=True)
class EvalCommand:
    """The arguments of ``stdc-ros eval`` that are ``evaluate_bag``'s own (the rest are EvalOptions)."""

    bag: Path = option("bag", parse=Path, help="rosbag2 folder, .mcap or .db3 file")
    out: Path = option("--out", default=Path("eval_out"), parse=Path, help="report folder (default eval_out)")
    mode: Mode = option("--mode", default="lossless", choices=MODES, help="(default lossless)")
    model: Path | None = option("--model", default=None, parse=Path, help="model file for the node (default: its own)")
    backend: str = option("--backend", default="onnxruntime", help="node backend (default onnxruntime)")
