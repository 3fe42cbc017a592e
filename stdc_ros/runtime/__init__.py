"""Inference runtimes behind one interface: ``create_runtime(backend, model_path, ...)`` -> SegmentationRuntime.

Backends are imported only when created, so the ONNX Runtime path needs neither torch nor tensorrt.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from .base import ChannelOrder, Segmentation, SegmentationRuntime

# backend name -> (module, class, Python packages it needs)
BACKENDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "onnxruntime": ("stdc_ros.runtime.onnxruntime_backend", "OnnxRuntimeSegmentation", ("onnxruntime",)),
    "tensorrt": ("stdc_ros.runtime.tensorrt_backend", "TensorRTSegmentation", ("tensorrt", "cuda")),  # cuda-python
    "torch": ("stdc_ros.runtime.torch_backend", "TorchSegmentation", ("torch",)),
}


def available_backends() -> list[str]:
    """Backends whose packages are installed (TensorRT also needs a CUDA device, checked when it is created)."""
    return [name for name, (_, _, needs) in BACKENDS.items() if all(importlib.util.find_spec(p) for p in needs)]


def runtime_device(backend: str, device: str) -> str:
    """The device ``backend`` really runs on: TensorRT only runs on CUDA, so "cpu" (the default) means "cuda"."""
    return "cuda" if backend == "tensorrt" and device == "cpu" else device


def create_runtime(
    backend: str,
    model_path: Path,
    input_size: tuple[int, int] | None = None,
    device: str = "cpu",
    **options: Any,
) -> SegmentationRuntime:
    """A ready runtime for ``model_path``.

    ``input_size`` (H, W) is the network input size; None takes it from the model file. ``device``: "cpu" or
    "cuda[:N]" (onnxruntime also "tensorrt[:N]" for its TensorRT provider; the tensorrt backend needs CUDA).
    ``options`` go to the backend (e.g. ``threads``; tensorrt: ``precision``, ``cache_dir``, ``workspace_mib``,
    ``dla_core``, ``progress``; onnxruntime: ``precision``, ``dla_core``, ``allow_fallback`` for its GPU providers).
    Raises ValueError for an unknown backend and stdc_ros.errors.ModelFileError for a bad model file.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    module_name, class_name, needs = BACKENDS[backend]
    missing = [p for p in needs if importlib.util.find_spec(p) is None]
    if missing:
        raise ImportError(f"backend {backend!r} needs the Python package(s) {', '.join(missing)}, not installed")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(Path(model_path), input_size=input_size, device=runtime_device(backend, device), **options)


__all__ = [
    "BACKENDS",
    "ChannelOrder",
    "Segmentation",
    "SegmentationRuntime",
    "available_backends",
    "create_runtime",
    "runtime_device",
]
