"""Building TensorRT engines: the network to build from, the build plan, the build itself, progress, and the cache
key (which TensorRT is supported and the engine options are ``stdc_ros.runtime.tensorrt_support``). Written to
TensorRT's documented Python API for 10.3+ and 11.x; never run on real TensorRT here (tests drive it through a fake
``tensorrt`` module with a 10.x and an 11.x face).

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

Nothing here allocates device memory or runs inference: that is ``stdc_ros.runtime.tensorrt_backend``, which calls
``prepare_engine`` (importing this module only then) for a model that is not a prebuilt engine.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelFileError
from ..runtime.conventions import FORMAT_FULL, RAW_INPUT, RAW_OUTPUT, ModelMetadata
from ..runtime.cuda_api import GpuInfo
from ..runtime.engine_cache import CachedEngine, EngineCache, EngineKey, file_sha256
from ..runtime.tensorrt_support import BATCH, BuildConfig, Progress, TensorRTFeatures, check_supported, make_logger

log = logging.getLogger(__name__)

DLA_SINCE_11 = (11, 4, 1)  # TensorRT 11.0-11.4.0 have no DLA support

# The command that makes a TensorRT-ready (int8, symmetric) Q/DQ model; named in refusals.
QUANTIZE_COMMAND = "stdc-ros export --int8 (Q/DQ, int8 symmetric activations)"


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
    from ..runtime.network_cut import locate_network

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

    from ..runtime.network_cut import extract_network
    from .onnx_tools import convert_float16, fix_batch, fold_int32_dequantize, has_float16, qdq_report

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
