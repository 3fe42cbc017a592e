"""Building TensorRT engines: which TensorRT is supported, the network to build from, the build itself, progress,
and the cache key. Written to TensorRT's documented Python API for 10.3+ and 11.x; never run on real TensorRT here
(tests drive it through a fake ``tensorrt`` module with a 10.x and an 11.x face).

One build path for both versions (TensorRT 11 removed weak typing; 10.x deprecates it):

- the network is cut out of a ``full`` model (the uint8-image graph the node ships) or taken from a ``raw`` one,
  with the batch fixed to 1, so the engine holds only the network; pre/post-processing stays in numpy;
- strongly typed networks (``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` on 10.x; 11.x is always strongly typed)
  and no precision builder flags: the ONNX says which tensors are float32, float16 or int8;
- fp32 from the float32 network; fp16 from a mixed float16 conversion of it made here (float32 I/O and sensitive
  ops, ``onnx_tools.convert_float16``), or from a network that already is float16; int8 from a Q/DQ model (int8,
  zero point 0). The implicit-INT8 calibrator path was removed: 11.x has no calibration API, and a Q/DQ model
  gives int8 on both versions;
- DLA (Jetson): ``default_device_type = DLA``, ``DLA_core``, ``GPU_FALLBACK``.

Nothing here allocates device memory or runs inference: that is ``tensorrt_backend``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelFileError
from .conventions import FORMAT_FULL, RAW_INPUT, RAW_OUTPUT, ModelMetadata
from .cuda_api import GpuInfo
from .engine_cache import CachedEngine, EngineCache, EngineKey, file_sha256

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

PRECISIONS = ("fp16", "fp32", "int8")
BATCH = 1  # the node runs one frame at a time; the network is built for exactly (1, 3, h, w)
MIN_VERSION = (10, 0)  # strongly typed networks and the ONNX parser's opset 18
CLAIMED_VERSION = (10, 3)  # JetPack 6.1/6.2; the oldest version the documentation claims
DLA_SINCE_11 = (11, 4, 1)  # TensorRT 11.0-11.4.0 have no DLA support
MAX_DLA_CORE = 7
# The command that makes a TensorRT-ready (int8, symmetric) Q/DQ model; named in refusals.
QUANTIZE_COMMAND = "stdc-ros export --int8 (Q/DQ, int8 symmetric activations)"


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


@dataclass(frozen=True)
class BuildPlan:
    """The flags for one build: names in ``trt.NetworkDefinitionCreationFlag`` and ``trt.BuilderFlag``."""

    network_flags: tuple[str, ...]
    builder_flags: tuple[str, ...]
    dla_core: int


def plan_build(features: TensorRTFeatures, config: BuildConfig) -> BuildPlan:
    """Strongly typed on every version, precision from the ONNX, DLA where asked and available."""
    numbers = features.numbers
    network = ("STRONGLY_TYPED",) if features.major == 10 else ()  # 11.x: always strongly typed, flag deprecated
    builder: tuple[str, ...] = ()
    if config.dla_core >= 0:
        if features.major >= 11 and numbers < DLA_SINCE_11:
            raise ValueError(
                f"dla_core={config.dla_core} needs DLA support, which TensorRT {features.version} lacks "
                "(TensorRT 10.x has it, 11.x from 11.4.1): set dla_core -1 or upgrade TensorRT"
            )
        if "GPU_FALLBACK" not in features.builder_flags:
            raise ValueError(f"TensorRT {features.version} has no BuilderFlag.GPU_FALLBACK for DLA builds")
        if config.precision == "fp32":
            log.warning("DLA runs fp16 and int8 layers only: with precision fp32 every layer falls back to the GPU")
        builder = ("GPU_FALLBACK",)  # layers the DLA cannot run go to the GPU instead of failing the build
    return BuildPlan(network, builder, config.dla_core)


# --- the network the engine is built from ------------------------------------------------------------------


def network_names(meta: ModelMetadata, proto: Any | None = None) -> tuple[str, str]:
    """(input, output) of the bare network: the recorded cut of a full model (or located in ``proto``), or the
    raw convention's names."""
    if meta.format != FORMAT_FULL:
        return RAW_INPUT, RAW_OUTPUT
    if meta.network_input and meta.network_output:
        return meta.network_input, meta.network_output
    if proto is None:
        return "?", "?"  # only for the cache key of files exported before the names were recorded
    from .onnx_tools import locate_network

    return locate_network(proto)


def network_recipe(meta: ModelMetadata, precision: str) -> tuple[tuple[str, str], ...]:
    """How the network is derived from the ONNX file, for the cache key (known without loading the graph)."""
    start, end = network_names(meta)
    recipe = [("network", f"{meta.format}:{start}->{end}:batch{BATCH}")]
    if precision == "fp16" and meta.precision not in ("fp16", "mixed"):
        from .onnx_tools import FP16_CONVERTER, FP16_KEEP_FP32_OPS, float16_converter_version

        converter = f"{FP16_CONVERTER} {float16_converter_version()} fp32:{','.join(FP16_KEEP_FP32_OPS)}"
        recipe.append(("fp16_conversion", converter))
    return tuple(recipe)


@dataclass(frozen=True)
class NetworkSource:
    """The serialized network ONNX handed to TensorRT's parser, and its tensor names."""

    model: bytes
    input_name: str
    output_name: str
    precision: str  # what the ONNX computes in: fp32, fp16 (mixed) or int8 (Q/DQ)


def prepare_network(path: Path, meta: ModelMetadata, precision: str, progress: Progress | None = None) -> NetworkSource:
    """Load ``path``, cut out its network, check it suits ``precision`` and convert it to float16 where needed.

    ModelFileError (naming the file and what to use instead) when the model cannot give that precision.
    """
    import onnx

    from .onnx_tools import convert_float16, extract_network, fix_batch, fold_int32_dequantize, has_float16, qdq_report

    try:
        proto = onnx.load_model(str(path), load_external_data=False)
        start, end = network_names(meta, proto)
        network = extract_network(proto, start, end) if meta.format == FORMAT_FULL else proto
    except Exception as exc:  # ValueError, KeyError, onnx's ValidationError: not the graph the metadata promises
        raise ModelFileError(f"cannot cut the network out of {path}: {type(exc).__name__}: {exc}") from exc
    network, biases = fold_int32_dequantize(network)  # ONNX Runtime's int32 biases: float for TensorRT
    if biases:
        log.info("%s: %d int32 bias DequantizeLinear nodes folded into float biases for TensorRT", path.name, biases)
    qdq = qdq_report(network)
    if precision == "int8":
        if not qdq.quantized:
            raise ModelFileError(
                f"precision int8 needs a Q/DQ (explicitly quantized) model; {path.name} has no QuantizeLinear/"
                f"DequantizeLinear nodes: make one with {QUANTIZE_COMMAND}"
            )
        problem = qdq.tensorrt_problem()
        if problem:
            raise ModelFileError(
                f"{path.name} cannot build a TensorRT int8 engine: {problem}. Make a TensorRT-ready model with "
                f"{QUANTIZE_COMMAND}"
            )
        kind = "int8"
    elif qdq.quantized:
        raise ModelFileError(
            f"{path.name} is quantized (Q/DQ, int8); precision {precision} needs the float model "
            "(models/stdc1_camvid.onnx), or set precision int8"
        )
    elif has_float16(network):
        if precision == "fp32":
            raise ModelFileError(f"{path.name} computes in float16; precision fp32 needs the float32 model")
        kind = "fp16"
    elif precision == "fp16":
        if progress:
            progress("converting the network to float16")
        started = time.monotonic()
        network = convert_float16(network)
        log.info("converted %s's network to mixed float16 in %.1f s", path.name, time.monotonic() - started)
        kind = "fp16"
    else:
        kind = "fp32"
    network = fix_batch(network, BATCH)
    del network.metadata_props[:]
    return NetworkSource(network.SerializeToString(), start, end, kind)


# --- the build ---------------------------------------------------------------------------------------------


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


def make_progress_monitor(trt: Any, progress: Progress | None) -> Any | None:
    """Reports build phases to ``progress`` and the log (TensorRT calls it from several threads)."""
    if not hasattr(trt, "IProgressMonitor"):
        return None

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._lock = threading.Lock()
            self._steps: dict[str, int] = {}
            self._last_log = 0.0

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            with self._lock:
                self._steps[phase_name] = num_steps
            log.log(logging.INFO if parent_phase is None else logging.DEBUG, "TensorRT build: %s", phase_name)
            if progress:
                progress(f"building TensorRT engine: {phase_name}")

        def step_complete(self, phase_name: str, step: int) -> bool:
            now = time.monotonic()
            with self._lock:
                total = self._steps.get(phase_name, 0)
                logged = now - self._last_log >= 10.0  # one log line every 10 s is enough for a long build
                if logged:
                    self._last_log = now
            text = f"building TensorRT engine: {phase_name} {step + 1}/{total}"
            if logged:
                log.info("%s", text)
            if progress:
                progress(text)
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            log.debug("TensorRT build: %s done", phase_name)

    return Monitor()


def build_engine(
    trt: Any,
    source: NetworkSource,
    config: BuildConfig,
    plan: BuildPlan,
    input_shape: tuple[int, ...],
    progress: Progress | None = None,
) -> bytes:
    """Parse ``source`` into a strongly typed network and build a serialized engine for ``input_shape``."""
    logger = make_logger(trt)
    builder = trt.Builder(logger)
    if plan.dla_core >= 0 and plan.dla_core >= int(builder.num_DLA_cores):
        raise ValueError(f"dla_core={plan.dla_core} but this device has {builder.num_DLA_cores} DLA cores")
    flags = 0
    for name in plan.network_flags:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(source.model):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelFileError(f"TensorRT cannot parse the network: {errors or 'unknown error'}")
    if network.num_inputs != 1 or network.num_outputs != 1:
        raise ModelFileError(f"the network has {network.num_inputs} inputs, {network.num_outputs} outputs; expected 1")
    tensor = network.get_input(0)
    declared = tuple(int(d) for d in tensor.shape)
    if tensor.name != source.input_name or len(declared) != len(input_shape):
        raise ModelFileError(f"network input {tensor.name} {declared}, expected {source.input_name} {input_shape}")
    builder_config = builder.create_builder_config()
    builder_config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, config.workspace_mib << 20)
    for name in plan.builder_flags:
        builder_config.set_flag(getattr(trt.BuilderFlag, name))
    if plan.dla_core >= 0:
        builder_config.default_device_type = trt.DeviceType.DLA
        builder_config.DLA_core = plan.dla_core
    if any(d < 0 for d in declared):  # a raw export with a dynamic batch that was not fixed: one-shape profile
        profile = builder.create_optimization_profile()
        profile.set_shape(tensor.name, input_shape, input_shape, input_shape)
        builder_config.add_optimization_profile(profile)
    monitor = make_progress_monitor(trt, progress)
    if monitor is not None:
        builder_config.progress_monitor = monitor
    log.info(
        "building TensorRT %s %s engine (strongly typed), input %s %s, workspace %d MiB%s",
        trt.__version__,
        source.precision,
        source.input_name,
        "x".join(map(str, input_shape)),
        config.workspace_mib,
        f", DLA core {plan.dla_core}" if plan.dla_core >= 0 else "",
    )
    if progress:
        progress("building TensorRT engine")
    serialized = builder.build_serialized_network(network, builder_config)
    if serialized is None:
        raise ModelFileError("TensorRT failed to build the engine (see the tensorrt log lines above)")
    return bytes(memoryview(serialized))


# --- cache key ---------------------------------------------------------------------------------------------


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


def make_engine_key(
    onnx_sha256: str,
    trt_version: str,
    cuda_major: int,
    gpu: GpuInfo,
    config: BuildConfig,
    input_shape: tuple[int, ...],
    recipe: tuple[tuple[str, str], ...] = (),
) -> EngineKey:
    options = [("workspace_mib", str(config.workspace_mib)), *recipe]
    if config.dla_core >= 0:
        options.append(("dla_core", str(config.dla_core)))
    return EngineKey(
        onnx_sha256=onnx_sha256,
        tensorrt_version=trt_version,
        gpu_name=gpu.name,
        compute_capability=f"{gpu.compute_capability[0]}.{gpu.compute_capability[1]}",
        precision=config.precision,
        input_shape=tuple(int(d) for d in input_shape),
        options=tuple(options),
        sm_count=gpu.sm_count,
        total_memory_mib=gpu.total_memory >> 20,
        cuda_major=cuda_major,
    )


def prepare_engine(
    trt: Any,
    onnx_path: Path,
    meta: ModelMetadata,
    config: BuildConfig,
    gpu: GpuInfo,
    cuda_major: int,
    loadable: Callable[[bytes], bool] | None = None,
    progress: Progress | None = None,
) -> CachedEngine:
    """The cached engine for ``onnx_path`` on this GPU and TensorRT, or a freshly built (and cached) one."""
    features = TensorRTFeatures.of(trt)
    check_supported(features)
    plan = plan_build(features, config)
    shape = (BATCH, 3, *meta.input_size)
    key = make_engine_key(
        file_sha256(onnx_path), features.version, cuda_major, gpu, config, shape, network_recipe(meta, config.precision)
    )

    def build() -> bytes:
        source = prepare_network(onnx_path, meta, config.precision, progress)
        return build_engine(trt, source, config, plan, shape, progress)

    return EngineCache(config.cache_dir).load_or_build(
        onnx_path.stem, key, build, loadable=loadable, force=config.force_rebuild, source=str(onnx_path.resolve())
    )
