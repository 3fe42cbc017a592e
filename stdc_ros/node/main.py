"""Entry points: ``ros2 run stdc_ros stdc_ros_node [--ros-args ...]`` and ``stdc-ros run [...] [--ros-args ...]``.

Both start the same SegmentationNode in a multi-threaded executor (inference runs on the node's worker thread; the
extra executor threads keep /diagnostics going while a slow configure holds the node's default callback group)
and shut down cleanly on SIGINT or SIGTERM. ``stdc-ros run`` also loads the packaged config/stdc_ros.yaml unless
another ``--params-file`` is given, so it behaves like the launch file where ``ros2 launch`` is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_PARAMS = "config/stdc_ros.yaml"
# The default callback group (services, subscriptions, lifecycle transitions), the diagnostics timer's group and
# tf2_ros's listener each get a thread; the callbacks only queue work, so more would idle.
EXECUTOR_THREADS = 3


def default_params_file() -> Path | None:
    from ..resources import find_share_file

    try:
        return find_share_file(DEFAULT_PARAMS)
    except FileNotFoundError:
        return None


def ros_arguments(
    ros_args: list[str],
    params_file: Path | None = None,
    name: str | None = None,
    namespace: str | None = None,
) -> list[str]:
    """One ``--ros-args`` section: params file and renames first, the user's own arguments last (they win)."""
    args = ["--ros-args"]
    if params_file is not None:
        args += ["--params-file", str(params_file)]
    if name:
        args += ["-r", f"__node:={name}"]
    if namespace:
        args += ["-r", f"__ns:={namespace if namespace.startswith('/') else '/' + namespace}"]
    rest = list(ros_args)
    if rest[:1] == ["--ros-args"]:
        rest = rest[1:]
    return args + rest if len(args) > 1 or rest else []


def quiet_opencv() -> None:
    """The node refuses a corrupt compressed frame with one throttled warning; OpenCV would also print its own
    unthrottled stderr lines for every such frame, so its logging is silenced in the node's process.

    Builds without ``cv2.utils.logging`` (opencv-python 4.10, of Ubuntu 24.04's numpy 1.26 era) take the level only
    from ``OPENCV_LOG_LEVEL``, read when cv2 is first imported: call this before anything imports cv2.
    """
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    import cv2

    api = getattr(getattr(cv2, "utils", None), "logging", None)
    if api is not None:
        api.setLogLevel(api.LOG_LEVEL_SILENT)


def spin_node(argv: list[str]) -> int:
    """Run the node until SIGINT/SIGTERM; ``argv`` holds the ROS arguments (``--ros-args ...``)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    quiet_opencv()  # before the node's modules import cv2
    from .segmentation_node import SegmentationNode

    context = rclpy.Context()
    # rclpy's handlers: SIGINT and SIGTERM (docker stop, systemd, launch) shut the context down and wake the
    # executor at once; the finally block below then stops the worker and frees the model.
    rclpy.init(args=["stdc_ros_node", *argv], context=context, signal_handler_options=SignalHandlerOptions.ALL)
    executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS, context=context)
    node = None
    code = 0
    try:
        node = SegmentationNode(context=context)  # with autostart the model load begins once spinning
        if context.ok():
            executor.add_node(node)
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:
        if context.ok():  # a real error (e.g. a parameter override of the wrong type), not a signal mid-start
            print(f"stdc_ros: cannot start the node: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = 2
    finally:
        if node is not None:
            # After a signal the context is already shut down: log without /rosout then.
            logger = node.get_logger() if context.ok() else rclpy.logging.get_logger(f"{node.get_name()}.exit")
            logger.info("shutting down")
            node.release_all()
        executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()
        context.try_shutdown()
    return code


def main(argv: list[str] | None = None) -> int:
    """``ros2 run stdc_ros stdc_ros_node --ros-args ...`` (console script ``stdc_ros_node``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return spin_node(args)
    except KeyboardInterrupt:
        return 0


# ---------------------------------------------------------------- `stdc-ros run` (see stdc_ros.cli)
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params-file",
        type=Path,
        default=None,
        help=f"parameter YAML (default: the packaged {DEFAULT_PARAMS}); 'none' for built-in defaults only",
    )
    parser.add_argument("--name", default=None, help="node name (default stdc_ros)")
    parser.add_argument("--namespace", default=None, help="namespace, e.g. /front_camera")
    parser.add_argument(
        "--dds-profile",
        default="packaged",
        help="Fast DDS XML profile for large frames, applied unless Fast DDS is configured in the environment "
        "('packaged': config/dds/fastdds_hd.xml; 'none': leave DDS alone); the camera driver needs it too",
    )
    parser.add_argument(
        "--ros-args",
        dest="ros_args",
        nargs=argparse.REMAINDER,
        default=[],
        help="everything after it goes to ROS unchanged (-p name:=value, -r from:=to, --params-file ...)",
    )


def run(args: argparse.Namespace) -> int:
    params_file = args.params_file
    if params_file is None:
        params_file = default_params_file()
    elif str(params_file).lower() == "none":
        params_file = None
    elif not params_file.is_file():
        print(f"stdc-ros run: params file not found: {params_file}", file=sys.stderr)
        return 2
    from ..dds_profile import apply_hd_profile

    try:  # before rclpy.init: Fast DDS reads its profile when the process's first participant is made
        print(f"stdc-ros run: {apply_hd_profile(args.dds_profile)}", file=sys.stderr)
    except FileNotFoundError as exc:
        print(f"stdc-ros run: {exc}", file=sys.stderr)
        return 2
    return spin_node(ros_arguments(args.ros_args, params_file, args.name, args.namespace))


if __name__ == "__main__":
    sys.exit(main())
