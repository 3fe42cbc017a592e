"""TensorRT backend through TensorRT's own Python API (written for TensorRT 10 and 11; never run in this workplace).

- Input: a ``raw`` ONNX (float32 [N, 3, h, w] -> logits). Pre/post-processing runs on the GPU in torch, on the same
  CUDA stream as the engine, so only the uint8 image goes up and the uint8 labels come down.
- CUDA memory and streams come from torch (no PyCUDA, no autoinit context). torch is initialised on the device
  before TensorRT deserialises, so the engine lives in the device's primary context that torch uses in every
  thread: a ROS callback thread only has to select the device, which ``infer`` does.
- Precision: ``fp32``; ``fp16`` with the FP16 builder flag where TensorRT still has it (10.x) or, on strongly
  typed TensorRT (11.x), from a float16 ONNX (``stdc-ros export --format raw --half``); ``int8`` with entropy
  calibration from a folder of frames (TensorRT 10.x only: 11.x removed implicit quantization).
- Engines are cached by ``engine_cache.EngineCache``; build progress is logged through ``trt.IProgressMonitor``
  when the installed TensorRT has it, else by the builder's own log lines.

This module imports neither tensorrt nor torch at import time, so its pure helpers are tested without them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InferenceError, ModelFileError
from ..image_files import read_rgb
from .base import ChannelOrder, Segmentation, SegmentationRuntime
from .conventions import FORMAT_RAW, RAW_INPUT, ModelMetadata, format_size, read_model_metadata
from .engine_cache import CachedEngine, EngineCache, EngineKey, file_sha256
from .prepost import check_image

log = logging.getLogger(__name__)

PRECISIONS = ("fp16", "fp32", "int8")
ENGINE_SUFFIXES = (".engine", ".plan")  # a prebuilt engine: used as is, outside the cache
BATCH = 1  # the node runs one frame at a time: the optimisation profile is min = opt = max = (1, 3, h, w)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class BuildConfig:
    """How to build an engine; every field that changes the engine is part of the cache key."""

    precision: str = "fp16"
    workspace_mib: int = 1024
    calibration_dir: Path | None = None  # int8 only: folder of real frames
    calibration_frames: int = 200
    cache_dir: Path | None = None  # None: engine_cache.default_cache_dir()
    force_rebuild: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.workspace_mib < 16:
            raise ValueError(f"workspace_mib must be at least 16, got {self.workspace_mib}")
        if self.precision == "int8" and self.calibration_dir is None:
            raise ValueError("int8 needs calibration_dir: a folder of real frames for entropy calibration")


@dataclass(frozen=True)
class PrecisionPlan:
    network_flags: tuple[str, ...]  # names in trt.NetworkDefinitionCreationFlag
    builder_flags: tuple[str, ...]  # names in trt.BuilderFlag
    calibrate: bool


def trt_major(version: str) -> int:
    return int(version.split(".")[0])


def plan_precision(
    precision: str,
    onnx_precision: str,
    trt_version: str,
    builder_flags: set[str],
    network_flags: set[str],
    has_calibrator_api: bool,
) -> PrecisionPlan:
    """Which flags build ``precision`` from an ONNX of ``onnx_precision`` on this TensorRT (given its API).

    Raises ModelFileError (naming what to export instead) or ValueError when the combination cannot work.
    """
    major = trt_major(trt_version)
    net: list[str] = []
    if major < 10 and "EXPLICIT_BATCH" in network_flags:
        net.append("EXPLICIT_BATCH")  # implicit batch was the default before 10
    if onnx_precision == "fp16":
        if precision != "fp16":
            raise ModelFileError(f"a float16 ONNX can only build fp16 engines, not {precision}; use the fp32 export")
        if "STRONGLY_TYPED" in network_flags and major < 11:
            net.append("STRONGLY_TYPED")  # 11.x is strongly typed always
        elif major < 11:
            raise ValueError(f"TensorRT {trt_version} has no strongly typed networks; build fp16 from the fp32 ONNX")
        return PrecisionPlan(tuple(net), (), calibrate=False)
    if precision == "fp32":
        return PrecisionPlan(tuple(net), (), calibrate=False)
    if precision == "fp16":
        if "FP16" not in builder_flags:
            raise ModelFileError(
                f"TensorRT {trt_version} has no FP16 builder flag (strongly typed only): export a float16 raw ONNX "
                "with `stdc-ros export CHECKPOINT --format raw --half` and build from it"
            )
        return PrecisionPlan(tuple(net), ("FP16",), calibrate=False)
    # int8: implicit quantization with a calibrator; FP16 lets layers without an INT8 kernel avoid FP32
    if "INT8" not in builder_flags or not has_calibrator_api:
        raise ValueError(
            f"TensorRT {trt_version} has no implicit INT8 quantization (removed in 11.x); INT8 with entropy "
            "calibration needs TensorRT 10.x, or an ONNX with explicit Q/DQ nodes"
        )
    return PrecisionPlan(tuple(net), ("INT8", *(["FP16"] if "FP16" in builder_flags else [])), calibrate=True)


def calibration_images(folder: Path, count: int) -> list[Path]:
    """Up to ``count`` image files spread evenly over ``folder`` (sorted by name, recursive)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"calibration folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in calibration folder {folder}")
    if len(files) <= count:
        return files
    picks = np.linspace(0, len(files) - 1, count).astype(int)
    return [files[int(i)] for i in picks]


def calibration_fingerprint(files: list[Path]) -> str:
    """Identity of a calibration set: names and sizes (hashing every image would slow each start for little)."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.name}:{f.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def make_engine_key(
    onnx_sha256: str,
    trt_version: str,
    gpu_name: str,
    compute_capability: tuple[int, int],
    config: BuildConfig,
    input_shape: tuple[int, ...],
    calibration: str | None = None,
) -> EngineKey:
    options = [("workspace_mib", str(config.workspace_mib))]
    if calibration:
        options.append(("calibration", calibration))
    return EngineKey(
        onnx_sha256=onnx_sha256,
        tensorrt_version=trt_version,
        gpu_name=gpu_name,
        compute_capability=f"{compute_capability[0]}.{compute_capability[1]}",
        precision=config.precision,
        input_shape=tuple(int(d) for d in input_shape),
        options=tuple(options),
    )


# --- everything below needs tensorrt and torch -------------------------------------------------------------


def _import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise ImportError("the tensorrt backend needs NVIDIA's `tensorrt` Python package") from exc
    return trt


def _make_logger(trt: Any) -> Any:
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


def _make_progress_monitor(trt: Any) -> Any | None:
    """Logs build phases (TensorRT calls it from several threads; logging is thread-safe, state is locked)."""
    if not hasattr(trt, "IProgressMonitor"):
        return None

    class Progress(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._lock = threading.Lock()
            self._steps: dict[str, int] = {}
            self._last = 0.0

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            with self._lock:
                self._steps[phase_name] = num_steps
            level = logging.INFO if parent_phase is None else logging.DEBUG
            log.log(level, "TensorRT build: %s (%d steps)", phase_name, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            now = time.monotonic()
            with self._lock:
                if now - self._last < 10.0:  # one line every 10 s is enough for a multi-minute build
                    return True
                self._last = now
                total = self._steps.get(phase_name, 0)
            log.info("TensorRT build: %s step %d/%d", phase_name, step + 1, total)
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            log.debug("TensorRT build: %s done", phase_name)

    return Progress()


def _make_calibrator(
    trt: Any, files: list[Path], preprocess: Callable[[np.ndarray], np.ndarray], device: Any, cache_file: Path
) -> Any:
    """Entropy calibrator feeding one real frame per batch from ``files`` through ``preprocess``."""
    import torch

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._files = list(files)
            self._index = 0
            self._batch: torch.Tensor | None = None

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            while self._index < len(self._files):
                path = self._files[self._index]
                self._index += 1
                try:
                    rgb = read_rgb(path)
                except ValueError:
                    log.warning("calibration: cannot read %s, skipped", path)
                    continue
                blob = torch.from_numpy(preprocess(rgb))
                self._batch = blob.to(device)
                torch.cuda.synchronize(device)
                if self._index % 50 == 0:
                    log.info("calibration: %d/%d frames", self._index, len(self._files))
                return [int(self._batch.data_ptr())]
            return None

        def read_calibration_cache(self) -> bytes | None:
            return cache_file.read_bytes() if cache_file.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            try:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                cache_file.write_bytes(bytes(memoryview(cache)))
            except OSError as exc:
                log.warning("cannot save the INT8 calibration cache %s: %s", cache_file, exc)

    return Calibrator()


def build_engine_bytes(
    onnx_path: Path,
    meta: ModelMetadata,
    config: BuildConfig,
    device: Any,
    calibration_files: list[Path] | None = None,
    calibration_cache: Path | None = None,
) -> bytes:
    """Parse ``onnx_path`` and build a serialized engine for (1, 3, h, w) at ``config.precision``."""
    trt = _import_tensorrt()
    logger = _make_logger(trt)
    builder = trt.Builder(logger)
    plan = plan_precision(
        config.precision,
        meta.precision,
        trt.__version__,
        set(trt.BuilderFlag.__members__),
        set(trt.NetworkDefinitionCreationFlag.__members__),
        has_calibrator_api=hasattr(trt, "IInt8EntropyCalibrator2"),
    )
    flags = 0
    for name in plan.network_flags:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelFileError(f"TensorRT cannot parse {onnx_path}: {errors or 'unknown error'}")
    if network.num_inputs != 1 or network.get_input(0).name != RAW_INPUT:
        raise ModelFileError(f"{onnx_path}: expected the single input {RAW_INPUT!r} of a raw stdc_ros model")
    builder_config = builder.create_builder_config()
    builder_config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, config.workspace_mib << 20)
    for name in plan.builder_flags:
        builder_config.set_flag(getattr(trt.BuilderFlag, name))
    shape = (BATCH, 3, *meta.input_size)
    profile = builder.create_optimization_profile()
    profile.set_shape(RAW_INPUT, shape, shape, shape)
    builder_config.add_optimization_profile(profile)
    monitor = _make_progress_monitor(trt)
    if monitor is not None:
        builder_config.progress_monitor = monitor
    calibrator = None
    if plan.calibrate:
        from .prepost import Preprocessor

        if not calibration_files:
            raise ValueError("int8 needs calibration frames")
        pre = Preprocessor(meta.input_size, meta.mean, meta.std)
        calibrator = _make_calibrator(
            trt, calibration_files, lambda rgb: pre(rgb).copy(), device, calibration_cache or Path("calibration.cache")
        )
        builder_config.int8_calibrator = calibrator
        builder_config.set_calibration_profile(profile)  # the network has a dynamic batch dimension
    log.info(
        "building TensorRT %s %s engine for %s, input %s, workspace %d MiB",
        trt.__version__,
        config.precision,
        onnx_path.name,
        "x".join(map(str, shape)),
        config.workspace_mib,
    )
    serialized = builder.build_serialized_network(network, builder_config)
    if serialized is None:
        raise ModelFileError(f"TensorRT failed to build an engine from {onnx_path} (see the tensorrt log lines)")
    return bytes(memoryview(serialized))


class TensorRTSegmentation(SegmentationRuntime):
    backend = "tensorrt"

    def __init__(
        self,
        model_path: Path,
        input_size: tuple[int, int] | None = None,
        device: str = "cuda",
        precision: str = "fp16",
        workspace_mib: int = 1024,
        cache_dir: Path | None = None,
        calibration_dir: Path | None = None,
        calibration_frames: int = 200,
        force_rebuild: bool = False,
    ) -> None:
        # Model checks first: a wrong file is reported as such even where tensorrt is not installed.
        model_path = Path(model_path)
        prebuilt = model_path.suffix.lower() in ENGINE_SUFFIXES
        if prebuilt:
            if not model_path.is_file():
                raise ModelFileError(f"TensorRT engine not found: {model_path}")
            meta = None
        else:
            meta = read_model_metadata(model_path)  # ModelFileError for missing, corrupt or foreign files
            if meta.format != FORMAT_RAW:
                raise ModelFileError(
                    f"the tensorrt backend needs a raw ONNX, {model_path} is {meta.format!r}: "
                    "export one with `stdc-ros export CHECKPOINT --format raw`"
                )
            _check_size(model_path, meta.input_size, input_size)
            super().__init__(model_path, meta.input_size, meta.num_classes)
        self.config = BuildConfig(
            precision=precision,
            workspace_mib=workspace_mib,
            calibration_dir=Path(calibration_dir) if calibration_dir else None,
            calibration_frames=calibration_frames,
            cache_dir=Path(cache_dir) if cache_dir else None,
            force_rebuild=force_rebuild,
        )
        trt = _import_tensorrt()
        import torch

        self.device = torch.device(device if device.startswith("cuda") else "cuda")
        if not torch.cuda.is_available():
            raise InferenceError("the tensorrt backend needs a CUDA device; none is available")
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        self.device = torch.device("cuda", index)
        torch.cuda.init()
        with torch.cuda.device(self.device):
            torch.zeros(1, device=self.device)  # make the primary context current before TensorRT touches CUDA
            self._logger = _make_logger(trt)
            self._runtime = trt.Runtime(self._logger)
            if meta is None:
                meta = self._load_prebuilt(trt, model_path, input_size)
            else:
                self.cached = prepare_engine(model_path, meta, self.config, self.device, self._deserialize)
            self.meta = meta
            self._setup_io(trt, torch)

    # -- engine ------------------------------------------------------------------------------------------

    def _load_prebuilt(self, trt: Any, path: Path, input_size: tuple[int, int] | None) -> ModelMetadata:
        """A serialized engine given directly: no cache, sizes from its tensors, ImageNet normalisation."""
        data = path.read_bytes()
        if not self._deserialize(data):
            raise ModelFileError(
                f"{path} is not an engine TensorRT {trt.__version__} can load on this GPU "
                "(corrupt, or built by another TensorRT version or for another GPU)"
            )
        self.cached = CachedEngine(data, path, built=False, reason="given")
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        shapes = {n: tuple(self._engine.get_tensor_shape(n)) for n in names}
        outputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        inputs = [n for n in names if n not in outputs]
        if len(inputs) != 1 or len(outputs) != 1 or len(shapes[inputs[0]]) != 4 or len(shapes[outputs[0]]) != 4:
            raise ModelFileError(f"{path}: expected one input [N, 3, h, w] and one output [N, C, h, w], got {shapes}")
        size = (int(shapes[inputs[0]][2]), int(shapes[inputs[0]][3]))
        _check_size(path, size, input_size)
        meta = ModelMetadata(format=FORMAT_RAW, input_size=size, num_classes=int(shapes[outputs[0]][1]), variant="?")
        SegmentationRuntime.__init__(self, path, size, meta.num_classes)
        return meta

    def _deserialize(self, data: bytes) -> bool:
        try:
            engine = self._runtime.deserialize_cuda_engine(data)
        except Exception as exc:  # the bindings raise on some corrupt inputs and return None on others
            log.debug("deserialise failed: %s", exc)
            engine = None
        if engine is None:
            return False
        self._engine = engine
        return True

    def _setup_io(self, trt: Any, torch: Any) -> None:
        engine = self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelFileError(
                f"engine for {self.model_path} has inputs {inputs} and outputs {outputs}; expected one each"
            )
        self._input_name, self._output_name = inputs[0], outputs[0]
        context = engine.create_execution_context()
        if context is None:
            raise InferenceError("TensorRT could not create an execution context (GPU memory?)")
        in_shape = (BATCH, 3, *self.input_size)
        declared = tuple(engine.get_tensor_shape(self._input_name))
        if len(declared) != 4 or any(d not in (-1, s) for d, s in zip(declared, in_shape)):
            raise ModelFileError(f"engine input {self._input_name} has shape {declared}, expected {in_shape}")
        if not context.set_input_shape(self._input_name, in_shape):
            raise ModelFileError(f"engine for {self.model_path} rejects the input shape {in_shape}")
        out_shape = tuple(context.get_tensor_shape(self._output_name))
        if len(out_shape) != 4 or out_shape[1] != self.num_classes or tuple(out_shape[2:]) != self.input_size:
            raise ModelFileError(
                f"engine output {self._output_name} has shape {out_shape}; "
                f"expected (N, {self.num_classes}, {self.input_size[0]}, {self.input_size[1]})"
            )
        dtypes = {trt.float32: torch.float32, trt.float16: torch.float16}
        in_dtype = dtypes.get(engine.get_tensor_dtype(self._input_name))
        out_dtype = dtypes.get(engine.get_tensor_dtype(self._output_name))
        if in_dtype is None or out_dtype is None:
            raise ModelFileError(f"engine I/O types {engine.get_tensor_dtype(self._input_name)} are not float32/16")
        self._input = torch.zeros(in_shape, dtype=in_dtype, device=self.device)
        self._output = torch.zeros(out_shape, dtype=out_dtype, device=self.device)
        context.set_tensor_address(self._input_name, int(self._input.data_ptr()))
        context.set_tensor_address(self._output_name, int(self._output.data_ptr()))
        self._context = context
        self._stream = torch.cuda.Stream(self.device)
        from .conventions import normalisation_affine

        scale, offset = normalisation_affine(self.meta.mean, self.meta.std)
        self._scale = torch.tensor(scale, device=self.device).view(1, 3, 1, 1)
        self._offset = torch.tensor(offset, device=self.device).view(1, 3, 1, 1)
        self._lock = threading.Lock()
        torch.cuda.synchronize(self.device)
        log.info("TensorRT engine ready: %s %s -> %s %s", self._input_name, in_shape, self._output_name, out_shape)

    def _execute(self) -> None:
        if not self._context.execute_async_v3(self._stream.cuda_stream):
            raise InferenceError(f"TensorRT execution failed for {self.model_path.name}")

    # -- interface ---------------------------------------------------------------------------------------

    def infer(self, image: np.ndarray, channel_order: ChannelOrder = "rgb", confidence: bool = False) -> Segmentation:
        import torch
        import torch.nn.functional as F

        from .graph import argmax_confidence

        if channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        image = check_image(image)
        height, width = image.shape[:2]
        with self._lock, torch.cuda.device(self.device), torch.cuda.stream(self._stream), torch.inference_mode():
            x = torch.from_numpy(image).to(self.device, non_blocking=True).permute(2, 0, 1)[None].float()
            if channel_order == "bgr":
                x = x.flip(1)
            if (height, width) != self.input_size:
                x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False)
            self._input.copy_(x * self._scale + self._offset)
            self._execute()
            labels, conf = argmax_confidence(self._output.float())
            labels = F.interpolate(labels.to(torch.uint8), size=(height, width), mode="nearest")[0, 0]
            result = Segmentation(labels.cpu().numpy())  # .cpu() waits for this stream
            if confidence:
                result.confidence = F.interpolate(conf, size=(height, width), mode="nearest")[0, 0].cpu().numpy()
            return result

    def network_call(self) -> Callable[[], object]:
        import torch

        def run() -> None:
            with self._lock, torch.cuda.device(self.device):
                self._execute()
                self._stream.synchronize()

        return run

    def close(self) -> None:
        for name in ("_context", "_engine", "_input", "_output"):
            if hasattr(self, name):
                delattr(self, name)

    def describe(self) -> str:
        h, w = self.input_size
        kind = "prebuilt engine" if self.cached.reason == "given" else self.config.precision
        return f"tensorrt {kind} ({self.device}) {self.model_path.name} @ {h}x{w}"


def _check_size(path: Path, model_size: tuple[int, int], asked: tuple[int, int] | None) -> None:
    if asked is not None and tuple(asked) != tuple(model_size):
        raise ModelFileError(
            f"{path} was exported for {format_size(model_size)}, not {format_size(tuple(asked))}; "
            "re-export with --input-size"
        )


def prepare_engine(
    onnx_path: Path,
    meta: ModelMetadata,
    config: BuildConfig,
    device: Any,
    loadable: Callable[[bytes], bool] | None = None,
) -> CachedEngine:
    """Load the cached engine for ``onnx_path`` or build and cache it (`stdc-ros build-engine` and the backend)."""
    import torch

    trt = _import_tensorrt()
    props = torch.cuda.get_device_properties(device)
    shape = (BATCH, 3, *meta.input_size)
    cache = EngineCache(config.cache_dir)
    files = calibration = calib_cache = None
    if config.precision == "int8":
        assert config.calibration_dir is not None  # BuildConfig checks it
        files = calibration_images(config.calibration_dir, config.calibration_frames)
        calibration = calibration_fingerprint(files)
    onnx_sha = file_sha256(onnx_path)
    key = make_engine_key(onnx_sha, trt.__version__, props.name, (props.major, props.minor), config, shape, calibration)
    if calibration:
        calib_cache = (
            cache.folder / f"{onnx_path.stem}.{format_size(meta.input_size)}.{onnx_sha[:12]}.{calibration}.calib"
        )
    return cache.load_or_build(
        onnx_path.stem,
        key,
        build=lambda: build_engine_bytes(onnx_path, meta, config, device, files, calib_cache),
        loadable=loadable,
        force=config.force_rebuild,
    )
