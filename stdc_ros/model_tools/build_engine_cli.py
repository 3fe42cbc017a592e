"""`stdc-ros build-engine`: build (or validate) the cached TensorRT engine for a model, then exit.

Takes the shipped ``full`` ONNX (the network is cut out and built alone), a ``raw`` one, or a Q/DQ (int8) one.
Run it once at first boot of a vehicle (or after a TensorRT/driver update) so the node starts in seconds
instead of building for minutes. Needs tensorrt and cuda-python, not torch.
Exit status: 0 engine ready, 1 build failed, 2 TensorRT, cuda-python or a CUDA device missing.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..errors import StdcRosError
from ..runtime.cuda_api import CudaError
from ..runtime.engine_cache import default_cache_dir
from ..runtime.tensorrt_support import MAX_DLA_CORE, PRECISIONS, BuildConfig

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", type=Path, help="ONNX model: the shipped full export, a raw export or a Q/DQ (int8) model"
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp16",
        help="fp16: float16 conversion of the network; int8: needs a Q/DQ model (models/stdc1_camvid_int8.onnx)",
    )
    parser.add_argument("--workspace-mib", type=int, default=1024, help="builder workspace limit in MiB")
    parser.add_argument("--dla-core", type=int, default=-1, help=f"Jetson DLA core 0..{MAX_DLA_CORE}; -1 = GPU only")
    parser.add_argument(
        "--cache-dir", type=Path, help=f"engine cache folder (default: $STDC_ROS_ENGINE_CACHE or {default_cache_dir()})"
    )
    parser.add_argument("--device", default="cuda", help="cuda or cuda:N")
    parser.add_argument("--force", action="store_true", help="rebuild even when a valid cached engine exists")


def run(args: argparse.Namespace) -> int:
    try:
        config = BuildConfig(
            precision=args.precision,
            workspace_mib=args.workspace_mib,
            dla_core=args.dla_core,
            cache_dir=args.cache_dir,
            force_rebuild=args.force,
        )
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    from ..runtime.tensorrt_backend import TensorRTSegmentation

    try:
        # Creating the runtime builds or validates the engine and proves it deserialises and runs here.
        runtime = TensorRTSegmentation(
            args.model,
            device=args.device,
            precision=config.precision,
            workspace_mib=config.workspace_mib,
            cache_dir=config.cache_dir,
            dla_core=config.dla_core,
            force_rebuild=config.force_rebuild,
            progress=lambda text: log.debug("%s", text),
        )
    except (ImportError, CudaError) as exc:
        log.error("build-engine needs TensorRT, cuda-python and a CUDA device: %s", exc)
        return 2
    except (StdcRosError, ValueError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 1
    with runtime:
        cached = runtime.cached
        where = cached.path if cached.path is not None else "memory only (cache folder not writable)"
        state = "built" if cached.built else "already cached and valid"
        print(f"{runtime.describe()}: engine {state}: {where}")
    return 0
