"""What the TensorRT runtime needs to know about the installed TensorRT before it loads (or has built) an engine:
the supported versions, the engine options (``BuildConfig``: every field is part of the cache key), a logger that
forwards to Python logging, and the CUDA major TensorRT was built for. Written to TensorRT's Python API for 10.3+
and 11.x; imports no tensorrt itself (the caller passes the module).

Building engines is model tooling: ``stdc_ros.model_tools.tensorrt_build``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

PRECISIONS = ("fp16", "fp32", "int8")
BATCH = 1  # the node runs one frame at a time; the network is built for exactly (1, 3, h, w)
MIN_VERSION = (10, 0)  # strongly typed networks and the ONNX parser's opset 18
CLAIMED_VERSION = (10, 3)  # JetPack 6.1/6.2; the oldest version the documentation claims
MAX_DLA_CORE = 7


def parse_version(text: str) -> tuple[int, int, int]:
    """``"10.8.0.43"`` -> (10, 8, 0); missing parts are 0."""
    parts = [int(p) for p in re.findall(r"\d+", text)[:3]]
    if not parts:
        raise ValueError(f"not a version: {text!r}")
    return (*parts, 0, 0)[:3]  # type: ignore[return-value]


@dataclass(frozen=True)
class TensorRTFeatures:
    """What the installed ``tensorrt`` module offers; read from the module, so fakes and real ones look alike."""

    version: str
    network_flags: frozenset[str]
    builder_flags: frozenset[str]
    has_calibrator: bool
    has_progress_monitor: bool

    @classmethod
    def of(cls, trt: Any) -> TensorRTFeatures:
        return cls(
            version=str(trt.__version__),
            network_flags=frozenset(trt.NetworkDefinitionCreationFlag.__members__),
            builder_flags=frozenset(trt.BuilderFlag.__members__),
            has_calibrator=hasattr(trt, "IInt8EntropyCalibrator2"),
            has_progress_monitor=hasattr(trt, "IProgressMonitor"),
        )

    @property
    def numbers(self) -> tuple[int, int, int]:
        return parse_version(self.version)

    @property
    def major(self) -> int:
        return self.numbers[0]


def check_supported(features: TensorRTFeatures) -> None:
    """ImportError naming the version and what to do when this TensorRT cannot run the one build path."""
    if features.numbers[:2] < MIN_VERSION:
        raise ImportError(
            f"TensorRT {features.version} is installed; the tensorrt backend needs TensorRT >= 10.3 (JetPack 6.1 "
            "or 6.2, or TensorRT 11 with JetPack 7): older versions have no strongly typed networks, and TensorRT "
            "8.6 (JetPack 6.0) reads ONNX opset 17 at most while the models are opset 18. On JetPack 6.0 use "
            "backend onnxruntime, or upgrade to JetPack 6.1+"
        )
    if features.numbers[:2] < CLAIMED_VERSION:
        log.warning("TensorRT %s is older than the supported 10.3; building anyway", features.version)
    if features.major == 10 and "STRONGLY_TYPED" not in features.network_flags:
        raise ImportError(f"TensorRT {features.version} has no NetworkDefinitionCreationFlag.STRONGLY_TYPED")


@dataclass(frozen=True)
class BuildConfig:
    """How to build an engine; every field that changes the engine is part of the cache key."""

    precision: str = "fp16"
    workspace_mib: int = 1024
    dla_core: int = -1  # Jetson DLA core, -1 = GPU only
    cache_dir: Path | None = None  # None: engine_cache.default_cache_dir()
    force_rebuild: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.workspace_mib < 16:
            raise ValueError(f"workspace_mib must be at least 16, got {self.workspace_mib}")
        if not -1 <= self.dla_core <= MAX_DLA_CORE:
            raise ValueError(f"dla_core must be -1 (off) or 0..{MAX_DLA_CORE}, got {self.dla_core}")


def make_logger(trt: Any) -> Any:
    """A trt.ILogger that forwards to Python logging (TensorRT keeps a reference: hold it as long as the engine)."""
    levels = {
        trt.ILogger.Severity.INTERNAL_ERROR: logging.CRITICAL,
        trt.ILogger.Severity.ERROR: logging.ERROR,
        trt.ILogger.Severity.WARNING: logging.WARNING,
        trt.ILogger.Severity.INFO: logging.DEBUG,  # TensorRT's INFO is chatty; ours summarises the build
        trt.ILogger.Severity.VERBOSE: logging.DEBUG,
    }
    trt_log = logging.getLogger("tensorrt")

    class Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            trt_log.log(levels.get(severity, logging.INFO), "%s", msg)

    return Logger()


def cuda_major_of_build(distributions: list[str], runtime_version: int) -> tuple[int, str]:
    """(CUDA major TensorRT was built for, where that came from).

    NVIDIA's wheels carry it in their names (``tensorrt-cu12``, ``tensorrt_cu13_bindings``): cu12 and cu13 builds
    share one version string. JetPack's Debian package has no such name: its TensorRT matches the CUDA runtime,
    whose major is used instead.
    """
    for name in distributions:
        match = re.search(r"tensorrt[-_]cu(\d+)", name.lower())
        if match:
            return int(match.group(1)), f"wheel {name}"
    return runtime_version // 1000, f"CUDA runtime {runtime_version // 1000}.{runtime_version % 1000 // 10}"


def installed_tensorrt_distributions() -> list[str]:
    try:
        return sorted(set(importlib.metadata.packages_distributions().get("tensorrt", [])))
    except Exception:  # broken metadata of an unrelated package must not stop the backend
        return []
