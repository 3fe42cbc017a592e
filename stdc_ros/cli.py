"""stdc-ros: STDC segmentation for ROS 2 (node, export, engines, benchmarks, bags, demo).

One entry point, one subcommand per tool (each module adds its own arguments).

Subcommand modules expose ``add_arguments(parser)`` and ``run(args) -> int`` and are imported only when
used, so ``stdc-ros run`` never pays for torch and ``stdc-ros export`` never needs ROS. A command's options are
declared once, as dataclass fields with their flags (stdc_ros/cli_options.py: ``add_options`` makes the flags,
``options_from`` returns the options object).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("stdc_ros.node.main", "start the segmentation node (same as `ros2 run stdc_ros stdc_ros_node`)"),
    "demo": ("stdc_ros.demo", "the main job: sample bag -> node -> evaluation report"),
    "export": ("stdc_ros.model_tools.export", "export a torch checkpoint to ONNX (--int8: quantize an ONNX model)"),
    "build-engine": ("stdc_ros.model_tools.build_engine_cli", "build (and cache) a TensorRT engine, then exit"),
    "bench": ("stdc_ros.bench.cli", "benchmark backends, node overhead and post-processing"),
    "soak": ("stdc_ros.bench.soak", "push many frames through the real node; check memory/threads/fds"),
    "make-bag": ("stdc_ros.rosbag.make_bag", "build a rosbag2 from a folder of frames (and labels)"),
    "replay": ("stdc_ros.rosbag.replay", "play a rosbag2 into the ROS graph (where `ros2 bag play` is missing)"),
    "eval": ("stdc_ros.evaluation.evaluate", "run the node on a bag and score it"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stdc-ros", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Parse the command name first (without -h, which would print before the subcommand's options exist),
    # then let its module declare its own arguments.
    if not any(a in SUBCOMMANDS for a in argv):
        parser.parse_args(argv)  # prints help or the usage error
    known, _ = parser.parse_known_args([a for a in argv if a not in ("-h", "--help")])
    module = importlib.import_module(known._module)
    sub_parser = parser._subparsers._group_actions[0].choices[known.command]  # type: ignore[union-attr]
    module.add_arguments(sub_parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
