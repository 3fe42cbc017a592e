"""ONNX Runtime execution providers for a device: CPU, CUDA, or TensorRT with the node's precision, DLA, explicit
optimisation-profile shapes and an engine cache folder per TensorRT version, ONNX Runtime version and GPU.

A provider the installed onnxruntime lacks is an error naming what is installed, unless the caller allows a
fallback; then the next provider (TensorRT -> CUDA -> CPU) is used and ``ProviderChoice.fallback`` says why, for
the node to log as an ERROR and show in /diagnostics. ONNX Runtime also drops a listed provider silently when it
cannot load it (onnxruntime-gpu lists TensorRT even where libnvinfer is missing), so the session's providers are
checked the same way (``check_session_providers``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CPU, CUDA, TENSORRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
Provider = str | tuple[str, dict[str, Any]]
FALLBACK_HINT = "set allow_provider_fallback to run on the next provider instead"


def default_trt_cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "stdc_ros" / "ort_trt"


def provider_name(provider: Provider) -> str:
    return provider[0] if isinstance(provider, tuple) else provider


@dataclass(frozen=True)
class ProviderChoice:
    providers: list[Provider]
    fallback: str  # "" when the asked provider is the first one; else why it is not


def parse_device(device: str) -> tuple[str, int]:
    kind, _, index = device.lower().partition(":")
    if kind not in ("cpu", "cuda", "tensorrt") or (index and not index.isdigit()):
        raise ValueError(f"onnxruntime device must be 'cpu', 'cuda[:N]' or 'tensorrt[:N]', got {device!r}")
    return kind, int(index) if index else 0


def cache_subfolder(trt_version: str, ort_version: str, gpu: str) -> str:
    """``trt10.8.0-ort1.32.0-NVIDIA_Jetson_AGX_Orin_sm87_16sm``: engines of another TensorRT, ONNX Runtime or GPU
    live elsewhere, so an upgrade rebuilds instead of failing to load a stale engine."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"trt{trt_version}-ort{ort_version}-{gpu}")


def select_providers(
    device: str,
    available: list[str],
    trt_cache_dir: Path | None = None,
    precision: str = "fp16",
    dla_core: int = -1,
    profile: tuple[str, tuple[int, ...]] | None = None,
    allow_fallback: bool = False,
    trt_version: str | None = None,
    gpu: str | None = None,
    ort_version: str | None = None,
) -> ProviderChoice:
    """Providers for ``device`` ("cpu", "cuda[:N]", "tensorrt[:N]"), most preferred first.

    ``precision`` (fp32, fp16, int8) and ``dla_core`` (-1 off) go to the TensorRT provider; ``profile`` is the
    network input's (name, shape) for explicit optimisation profiles (min = opt = max), so the engine is built
    at session creation for that one shape, not on the first frame. ``trt_version``, ``gpu`` and
    ``ort_version`` name the engine cache subfolder (looked up when None).
    """
    kind, device_id = parse_device(device)
    if precision not in ("fp32", "fp16", "int8"):
        raise ValueError(f"precision must be fp32, fp16 or int8, got {precision!r}")
    chain: list[Provider] = []
    if kind == "tensorrt":
        if ort_version is None:
            import onnxruntime

            ort_version = onnxruntime.__version__
        folder = cache_subfolder(
            trt_version or installed_tensorrt_version(), ort_version, gpu or gpu_identity(device_id)
        )
        cache = str(Path(trt_cache_dir or default_trt_cache_dir()) / folder)
        options: dict[str, Any] = {
            "device_id": device_id,
            "trt_fp16_enable": precision == "fp16",
            "trt_int8_enable": precision == "int8",  # a Q/DQ model: explicit quantization, no calibration table
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": cache,
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": cache,
        }
        if dla_core >= 0:
            options.update(trt_dla_enable=True, trt_dla_core=dla_core)
        if profile is not None:
            name, shape = profile
            text = f"{name}:{'x'.join(str(int(d)) for d in shape)}"
            options.update(trt_profile_min_shapes=text, trt_profile_opt_shapes=text, trt_profile_max_shapes=text)
        chain.append((TENSORRT, options))
    if kind in ("tensorrt", "cuda"):
        chain.append((CUDA, {"device_id": device_id}))
    chain.append(CPU)
    selected = [p for p in chain if provider_name(p) in available]
    fallback = ""
    if provider_name(selected[0]) != provider_name(chain[0]):
        problem = missing_provider(provider_name(chain[0]), available)
        if not allow_fallback:
            raise ValueError(f"device {device!r}: {problem}; {FALLBACK_HINT}")
        fallback = f"{problem}; running on {provider_name(selected[0])}"
        log.error("%s", fallback)
    if provider_name(selected[0]) == TENSORRT:
        Path(selected[0][1]["trt_engine_cache_path"]).mkdir(parents=True, exist_ok=True)  # type: ignore[index]
    return ProviderChoice(selected, fallback)


def missing_provider(asked: str, available: list[str]) -> str:
    return (
        f"the installed onnxruntime has no {asked} (it has {', '.join(available)}; install onnxruntime-gpu built "
        "with CUDA/TensorRT, e.g. NVIDIA's wheel on a Jetson)"
    )


def check_session_providers(asked: list[Provider], used: list[str], allow_fallback: bool) -> str:
    """ONNX Runtime skips a provider it cannot initialise (missing libnvinfer, no GPU) with a log line only:
    the same rule as for a missing provider. Returns the fallback reason ("" when the first asked one runs)."""
    want = provider_name(asked[0])
    if used and used[0] == want:
        return ""
    problem = f"onnxruntime could not start {want} (see its log above)"
    if not allow_fallback:
        raise ValueError(f"{problem}; {FALLBACK_HINT}")
    reason = f"{problem}; running on {used[0] if used else 'nothing'}"
    log.error("%s", reason)
    return reason


def installed_tensorrt_version() -> str:
    """The TensorRT that ONNX Runtime's provider will load: the Python package's version, else libnvinfer's."""
    try:
        import tensorrt

        return str(tensorrt.__version__)
    except Exception:  # not installed, or a broken install: ask the library itself
        pass
    for name in ("libnvinfer.so.11", "libnvinfer.so.10", "libnvinfer.so.8"):
        try:
            number = int(ctypes.CDLL(name).getInferLibVersion())
        except (OSError, AttributeError):
            continue
        major, rest = (number // 10000, number % 10000) if number >= 100000 else (number // 1000, number % 1000)
        return f"{major}.{rest // 100}.{rest % 100}"
    return "unknown"


def gpu_identity(device_id: int) -> str:
    """Name, compute capability and SM count of GPU ``device_id`` via cuda-python; ``gpuN`` without it."""
    try:
        from .cuda_api import CudaRuntime

        info = CudaRuntime().device_info(device_id)
    except Exception:  # cuda-python missing or no device: the index still separates GPUs of one machine
        return f"gpu{device_id}"
    major, minor = info.compute_capability
    return f"{info.name}_sm{major}{minor}_{info.sm_count}sm"


def tensorrt_profile(model_path: Path, device: str, prepost: str) -> tuple[str, tuple[int, ...]] | None:
    """(network input, (1, 3, h, w)) for the TensorRT provider's explicit profile, or None where it cannot apply
    (other devices; the whole full graph, whose network input is not a graph input; no recorded names)."""
    if parse_device(device)[0] != "tensorrt" or prepost == "graph":
        return None
    from .conventions import FORMAT_FULL, RAW_INPUT, read_model_metadata

    meta = read_model_metadata(model_path)
    name = meta.network_input if meta.format == FORMAT_FULL else RAW_INPUT
    if not name:
        log.warning("%s does not record its network input: no TensorRT optimisation profile", model_path)
        return None
    return name, (1, 3, *meta.input_size)
