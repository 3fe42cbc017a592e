"""`stdc-ros build-engine`: build (or validate) the cached TensorRT engine for a raw ONNX model, then exit.

Run it once at first boot of a vehicle (or after a TensorRT/driver update) so the node starts in seconds
instead of building for minutes. Exit status: 0 engine ready, 1 build failed, 2 TensorRT or CUDA missing.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..errors import StdcRosError
from .engine_cache import default_cache_dir
from .tensorrt_backend import PRECISIONS, BuildConfig

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="raw ONNX model (stdc-ros export CHECKPOINT --format raw)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp16")
    parser.add_argument("--workspace-mib", type=int, default=1024, help="builder workspace limit in MiB")
    parser.add_argument(
        "--cache-dir", type=Path, help=f"engine cache folder (default: $STDC_ROS_ENGINE_CACHE or {default_cache_dir()})"
    )
    parser.add_argument("--calibration-dir", type=Path, help="int8: folder of real frames for entropy calibration")
    parser.add_argument("--calibration-frames", type=int, default=200, help="int8: frames used from the folder")
    parser.add_argument("--device", default="cuda", help="cuda or cuda:N")
    parser.add_argument("--force", action="store_true", help="rebuild even when a valid cached engine exists")


def run(args: argparse.Namespace) -> int:
    try:
        config = BuildConfig(
            precision=args.precision,
            workspace_mib=args.workspace_mib,
            calibration_dir=args.calibration_dir,
            calibration_frames=args.calibration_frames,
            cache_dir=args.cache_dir,
            force_rebuild=args.force,
        )
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    try:
        import tensorrt  # noqa: F401 - only to fail early with a clear message
        import torch
    except ImportError as exc:
        log.error("build-engine needs tensorrt and torch: %s", exc)
        return 2
    if not torch.cuda.is_available():
        log.error("build-engine needs a CUDA device; none is available")
        return 2
    from .tensorrt_backend import TensorRTSegmentation

    try:
        # Creating the runtime builds or validates the engine and proves it deserialises and runs here.
        runtime = TensorRTSegmentation(
            args.model,
            device=args.device,
            precision=config.precision,
            workspace_mib=config.workspace_mib,
            cache_dir=config.cache_dir,
            calibration_dir=config.calibration_dir,
            calibration_frames=config.calibration_frames,
            force_rebuild=config.force_rebuild,
        )
    except (StdcRosError, ValueError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 1
    with runtime:
        cached = runtime.cached
        where = cached.path if cached.path is not None else "memory only (cache folder not writable)"
        state = "built" if cached.built else "already cached and valid"
        print(f"{runtime.describe()}: engine {state}: {where}")
    return 0
