"""TensorRT backend: deserialise an engine, set up its I/O, run frames. Written to TensorRT's Python API for 10.3+
and 11.x; never run on real TensorRT in this workplace (the tests use a fake ``tensorrt`` module).

- Model: the shipped ``full`` ONNX (the network is cut out of it and built alone), a ``raw`` ONNX, or a prebuilt
  ``.engine``/``.plan`` used as is. Engines are built once and cached (``engine_cache``); building is model
  tooling (``stdc_ros.model_tools.tensorrt_build``), imported only when an ONNX model is given.
- Pre/post-processing in numpy/OpenCV (``prepost``: the same code as the ONNX Runtime backend), so the GPU path
  needs no torch: only the normalised float32 input goes up and the logits come down.
- Device memory and the stream through cuda-python (``cuda_api``); the engine lives in the device's primary
  context, which the CUDA runtime API makes current in any thread once ``cudaSetDevice`` has run there, so
  ``infer`` calls it first and a ROS callback thread can run frames.

This module imports neither tensorrt nor cuda-python at import time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InferenceError, ModelFileError
from .base import ChannelOrder, Segmentation, SegmentationRuntime
from .conventions import FORMAT_RAW, ModelMetadata, format_size, read_model_metadata
from .cuda_api import CudaError, CudaRuntime, stream_handle
from .engine_cache import CachedEngine
from .prepost import NearestResizer, Preprocessor, argmax_confidence, check_image
from .tensorrt_support import (
    BATCH,
    PRECISIONS,
    BuildConfig,
    Progress,
    TensorRTFeatures,
    check_supported,
    cuda_major_of_build,
    installed_tensorrt_distributions,
    make_logger,
)

log = logging.getLogger(__name__)

__all__ = ["ENGINE_SUFFIXES", "PRECISIONS", "TensorRTSegmentation", "import_tensorrt", "parse_cuda_device"]

ENGINE_SUFFIXES = (".engine", ".plan")  # a prebuilt engine: used as is, outside the cache


def import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise ImportError(
            "the tensorrt backend needs NVIDIA's `tensorrt` Python package (JetPack's python3-libnvinfer, or "
            "pip install tensorrt-cu12 / tensorrt-cu13)"
        ) from exc
    check_supported(TensorRTFeatures.of(trt))
    return trt


def parse_cuda_device(device: str) -> int:
    """``"cuda"`` -> 0, ``"cuda:1"`` -> 1; ValueError otherwise."""
    kind, _, index = device.lower().partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise ValueError(f"the tensorrt backend runs on 'cuda' or 'cuda:N', got {device!r}")
    return int(index) if index else 0


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
        dla_core: int = -1,
        force_rebuild: bool = False,
        progress: Progress | None = None,
    ) -> None:
        # Model checks first: a wrong file is reported as such even where tensorrt is not installed.
        model_path = Path(model_path)
        self.fallback = ""  # the contract's attribute: TensorRT never runs elsewhere than asked
        prebuilt = model_path.suffix.lower() in ENGINE_SUFFIXES
        meta: ModelMetadata | None = None
        if prebuilt:
            if not model_path.is_file():
                raise ModelFileError(f"TensorRT engine not found: {model_path}")
        else:
            meta = read_model_metadata(model_path)  # ModelFileError for missing, corrupt or foreign files
            _check_size(model_path, meta.input_size, input_size)
            super().__init__(model_path, meta.input_size, meta.num_classes)
        self.config = BuildConfig(
            precision=precision,
            workspace_mib=workspace_mib,
            dla_core=dla_core,
            cache_dir=Path(cache_dir) if cache_dir else None,
            force_rebuild=force_rebuild,
        )
        self._device_index = parse_cuda_device(device)
        self.device = f"cuda:{self._device_index}"
        trt = import_tensorrt()
        self._cuda = CudaRuntime()
        count = self._cuda.device_count()
        if self._device_index >= count:
            raise CudaError(f"the tensorrt backend needs CUDA device {self._device_index}; {count} found")
        self._cuda.set_device(self._device_index)
        self.gpu = self._cuda.device_info(self._device_index)
        self._logger = make_logger(trt)
        self._runtime = trt.Runtime(self._logger)
        if self.config.dla_core >= 0:
            self._runtime.DLA_core = self.config.dla_core  # a DLA engine deserialises only onto its core
        self._buffers: list[int] = []
        self._host: list[np.ndarray] = []
        self._stream: Any = None
        try:
            if meta is None:
                meta = self._load_prebuilt(trt, model_path, input_size)
            else:
                runtime_version = self._cuda.runtime_version()
                cuda_major, origin = cuda_major_of_build(installed_tensorrt_distributions(), runtime_version)
                log.debug("TensorRT %s built for CUDA %d (%s)", trt.__version__, cuda_major, origin)
                # the one use of model tooling: the cached engine, built there when missing (one-way dependency)
                from ..model_tools.tensorrt_build import prepare_engine

                self.cached = prepare_engine(
                    trt, model_path, meta, self.config, self.gpu, cuda_major, self._deserialize, progress
                )
            self.meta = meta
            self._setup_io(trt)
        except BaseException:
            self.close()  # device buffers, host buffers and the stream made so far
            raise

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

    def _setup_io(self, trt: Any) -> None:
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
        if -1 in declared and not context.set_input_shape(self._input_name, in_shape):
            raise ModelFileError(f"engine for {self.model_path} rejects the input shape {in_shape}")
        out_shape = tuple(int(d) for d in context.get_tensor_shape(self._output_name))
        if len(out_shape) != 4 or out_shape[1] != self.num_classes or tuple(out_shape[2:]) != self.input_size:
            raise ModelFileError(
                f"engine output {self._output_name} has shape {out_shape}; "
                f"expected (1, {self.num_classes}, {self.input_size[0]}, {self.input_size[1]})"
            )
        in_dtype = _float_dtype(trt, engine.get_tensor_dtype(self._input_name), self._input_name)
        out_dtype = _float_dtype(trt, engine.get_tensor_dtype(self._output_name), self._output_name)
        self._context = context
        self._stream = self._cuda.stream_create()
        self._host_in = self._pinned(in_shape, in_dtype)
        self._host_out = self._pinned(out_shape, out_dtype)
        self._device_in = self._device_buffer(self._host_in.nbytes)
        self._device_out = self._device_buffer(self._host_out.nbytes)
        for name, pointer in ((self._input_name, self._device_in), (self._output_name, self._device_out)):
            if not context.set_tensor_address(name, pointer):  # False: unknown name or a misaligned address
                raise InferenceError(f"TensorRT refused the device address of tensor {name}")
        self._pre = Preprocessor(self.input_size, self.meta.mean, self.meta.std)
        self._resize = NearestResizer()
        self._lock = threading.Lock()
        log.info("TensorRT engine ready: %s %s -> %s %s", self._input_name, in_shape, self._output_name, out_shape)

    def _pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        array = self._cuda.host_array(shape, dtype)
        self._host.append(array)
        return array

    def _device_buffer(self, nbytes: int) -> int:
        pointer = self._cuda.malloc(nbytes)
        self._buffers.append(pointer)
        return pointer

    def _run(self) -> None:
        """Input already in ``_host_in``: copy up, execute, copy the logits down, wait (lock held)."""
        self._cuda.set_device(self._device_index)  # this thread's current device: the engine's
        self._cuda.copy_to_device(self._device_in, self._host_in, self._stream)
        if not self._context.execute_async_v3(stream_handle(self._stream)):
            raise InferenceError(f"TensorRT execution failed for {self.model_path.name}")
        self._cuda.copy_to_host(self._host_out, self._device_out, self._stream)
        self._cuda.synchronize(self._stream)

    # -- interface ---------------------------------------------------------------------------------------

    def infer(self, image: np.ndarray, channel_order: ChannelOrder = "rgb", confidence: bool = False) -> Segmentation:
        image = check_image(image)
        size = image.shape[:2]
        with self._lock:
            if not hasattr(self, "_context"):
                raise InferenceError(f"the TensorRT runtime for {self.model_path.name} is closed")
            np.copyto(self._host_in, self._pre(image, channel_order), casting="same_kind")
            self._run()
            logits = self._host_out[0]
            labels, conf = argmax_confidence(logits.astype(np.float32, copy=False), confidence)
        return Segmentation(self._resize(labels, size), self._resize(conf, size) if conf is not None else None)

    def network_call(self) -> Callable[[], object]:
        def run() -> None:
            with self._lock:
                self._run()

        return run

    def close(self) -> None:
        for name in ("_context", "_engine"):  # the context before the engine it came from
            if hasattr(self, name):
                delattr(self, name)
        cuda = getattr(self, "_cuda", None)
        if cuda is None:
            return
        try:
            while self._buffers:
                cuda.free(self._buffers.pop())
            while self._host:
                cuda.free_host(self._host.pop())
            if self._stream is not None:
                cuda.stream_destroy(self._stream)
                self._stream = None
        except InferenceError as exc:  # a dead context at shutdown: nothing left to free
            log.warning("freeing TensorRT buffers: %s", exc)

    def describe(self) -> str:
        h, w = self.input_size
        kind = "prebuilt engine" if self.cached.reason == "given" else self.config.precision
        dla = f", DLA core {self.config.dla_core}" if self.config.dla_core >= 0 else ""
        return f"tensorrt {kind} ({self.device} {self.gpu.name}{dla}) {self.model_path.name} @ {h}x{w}"


def _float_dtype(trt: Any, trt_dtype: Any, name: str) -> np.dtype:
    try:
        dtype = np.dtype(trt.nptype(trt_dtype))
    except TypeError:
        dtype = None
    if dtype not in (np.dtype(np.float32), np.dtype(np.float16)):
        raise ModelFileError(f"engine tensor {name} is {trt_dtype}; expected float32 or float16")
    return dtype


def _check_size(path: Path, model_size: tuple[int, int], asked: tuple[int, int] | None) -> None:
    if asked is not None and tuple(asked) != tuple(model_size):
        raise ModelFileError(
            f"{path} was exported for {format_size(model_size)}, not {format_size(tuple(asked))}; "
            "re-export with --input-size"
        )
