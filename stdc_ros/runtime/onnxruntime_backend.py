"""ONNX Runtime backend: CPU by default, CUDA or TensorRT execution providers when the installed build has them.

Pre/post-processing runs either inside the ONNX graph (``prepost="graph"``, ``full`` models only) or in
numpy/OpenCV around the bare network (``prepost="numpy"``; for a ``full`` model the network is cut out of the
graph at load time, which needs the ``onnx`` package). ``"auto"`` (default) picks numpy on the CPU provider,
where it measured about 5x cheaper than the same work in the graph (ONNX Runtime's reductions over the class
axis are slow; see docs/runtimes.md), and the graph on GPU providers, where it saves downloading the logits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ..errors import InferenceError, ModelFileError
from ..machine import cpu_has_int8_dot_product, read_cpu_info
from .base import ChannelOrder, Segmentation, SegmentationRuntime
from .conventions import (
    FORMAT_FULL,
    FULL_INPUT,
    FULL_OUTPUTS,
    PREFIX,
    RAW_INPUT,
    RAW_OUTPUT,
    ModelMetadata,
    format_size,
)
from .ort_providers import (  # noqa: F401 - select_providers and the provider names are this module's API too
    CPU,
    CUDA,
    TENSORRT,
    Provider,
    check_session_providers,
    default_trt_cache_dir,
    provider_name,
    select_providers,
    tensorrt_profile,
)
from .prepost import NearestResizer, Preprocessor, argmax_confidence, check_image, to_rgb
from .qdq import is_x86

log = logging.getLogger(__name__)

PREPOST_MODES = ("auto", "graph", "numpy")
_name = provider_name


def _load_proto(path: Path) -> Any | None:
    """The ONNX proto via the onnx package, or None when it is not installed; ModelFileError if unreadable."""
    try:
        import onnx
    except ImportError:
        return None
    try:
        return onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and onnx's own errors: the file is not an ONNX model
        raise ModelFileError(f"cannot read ONNX model {path}: {type(exc).__name__}: {exc}") from exc


def _cut_network(proto: Any, meta: ModelMetadata, path: Path) -> tuple[bytes, str, str] | None:
    """(serialized bare network, its input name, its output name) cut out of a full graph, or None (logged)."""
    from .network_cut import extract_network, locate_network

    try:
        if meta.network_input and meta.network_output:
            names = (meta.network_input, meta.network_output)
        else:  # exported before the names were recorded
            names = locate_network(proto)
        return extract_network(proto, *names).SerializeToString(), names[0], names[1]
    except Exception as exc:  # ValueError, KeyError, onnx's ValidationError: the graph is not as expected
        log.warning("cannot cut the network out of %s (%s): running pre/post-processing in the graph", path, exc)
        return None


def _uint8_view(proto: Any, path: Path) -> Any:
    """``proto`` with int8 (symmetric) activations run as uint8 on x86 (same values, faster kernels; qdq.py)."""
    from .qdq import int8_activation_quantizers, uint8_activations

    if not int8_activation_quantizers(proto):
        return proto
    view, count = uint8_activations(proto)
    log.info("%s: %d int8 activation Q/DQ pairs run as the equal uint8 ones (x86's u8s8 kernels)", path, count)
    return view


def _single_pass(proto: Any, path: Path) -> Any:
    """``proto`` without its test-time flip (half the cost) when it has one; unchanged otherwise."""
    from .network_cut import drop_mirror_pass

    if {p.key: p.value for p in proto.metadata_props}.get(PREFIX + "flip_average") != "true":
        return proto
    try:
        single = drop_mirror_pass(proto)
    except Exception as exc:  # ValueError, onnx's ValidationError: tagged flip-averaged but not shaped like it
        raise ModelFileError(f"cannot remove the test-time flip from {path}: {exc}") from exc
    log.info("test_time_flip is off: running %s as a single pass (the mirrored pass removed)", path)
    return single


class OnnxRuntimeSegmentation(SegmentationRuntime):
    backend = "onnxruntime"

    def __init__(
        self,
        model_path: Path,
        input_size: tuple[int, int] | None = None,
        device: str = "cpu",
        threads: int | None = None,
        prepost: str = "auto",
        trt_cache_dir: Path | None = None,
        test_time_flip: bool = True,  # False runs a flip-averaged model as a single pass (half the cost)
        precision: str = "fp16",  # TensorRT provider only: fp16 / int8 enable
        dla_core: int = -1,  # TensorRT provider only: Jetson DLA core, -1 = off
        allow_fallback: bool = False,  # a missing GPU provider falls back (reason in .fallback) instead of failing
    ) -> None:
        model_path = Path(model_path)
        if prepost not in PREPOST_MODES:
            raise ValueError(f"prepost must be one of {PREPOST_MODES}, got {prepost!r}")
        if not model_path.is_file():
            raise ModelFileError(f"ONNX model not found: {model_path}")
        if model_path.stat().st_size == 0:
            raise ModelFileError(f"ONNX model {model_path} is empty (0 bytes)")
        self._options = ort.SessionOptions()
        self._options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._options.log_severity_level = 3  # ORT's own warnings (unused initializers...) are not actionable
        if threads:
            self._options.intra_op_num_threads = int(threads)
        choice = select_providers(
            device,
            ort.get_available_providers(),
            trt_cache_dir,
            precision=precision,
            dla_core=dla_core,
            profile=tensorrt_profile(model_path, device, prepost),
            allow_fallback=allow_fallback,
        )
        self._providers, self.fallback = choice.providers, choice.fallback
        if prepost == "auto":
            # TensorRT gets the bare network: its input is then a graph input with an explicit profile shape
            prepost = "numpy" if _name(self._providers[0]) in (CPU, TENSORRT) else "graph"

        self._net_in, self._net_out = RAW_INPUT, RAW_OUTPUT
        self._test_time_flip = test_time_flip
        self._session, meta, self.prepost = self._open(model_path, prepost)
        if input_size is not None and tuple(input_size) != meta.input_size:
            raise ModelFileError(
                f"{model_path} was exported for {format_size(meta.input_size)} but "
                f"{format_size(tuple(input_size))} was asked for; re-export with --input-size"
            )
        if meta.precision == "int8" and _name(self._providers[0]) == CPU and not cpu_has_int8_dot_product():
            log.warning(
                "%s is INT8 but this CPU has no int8 dot-product instructions (int8 on %s): ONNX Runtime emulates "
                "them, slower than FP32 and further from its labels (docs/performance.md); precision auto or fp32 "
                "runs the FP32 model",
                model_path,
                read_cpu_info().int8_isa,
            )
        super().__init__(model_path, meta.input_size, meta.num_classes)
        self.meta = meta
        self.format = meta.format
        self.providers = self._session.get_providers()
        self.fallback = self.fallback or check_session_providers(self._providers, self.providers, allow_fallback)
        self._check_signature()
        self._lock = threading.Lock()
        self._resize = NearestResizer()
        self._pre = Preprocessor(self.input_size, meta.mean, meta.std) if self.prepost == "numpy" else None
        log.info("loaded %s", self.describe())

    def _open(self, path: Path, prepost: str) -> tuple[ort.InferenceSession, ModelMetadata, str]:
        """Session, metadata and the pre/post-processing mode actually used (a raw model is always numpy)."""
        # uint8 activations only where int8 dot products take them (without, x86's 16-bit multiply-adds saturate)
        uint8_view = _name(self._providers[0]) == CPU and is_x86() and cpu_has_int8_dot_product()
        proto = _load_proto(path) if prepost == "numpy" or not self._test_time_flip or uint8_view else None
        if proto is None:  # graph mode asked, or the onnx package is missing
            session = self._new_session(str(path), path)
            meta = ModelMetadata.from_props(session.get_modelmeta().custom_metadata_map, path)
            if meta.flip_average and not self._test_time_flip:
                raise ModelFileError(f"test_time_flip off needs the onnx package to remove {path}'s mirrored pass")
            if meta.format == FORMAT_FULL and prepost == "numpy":
                log.info("the onnx package is missing: running pre/post-processing inside the graph")
            return session, meta, "graph" if meta.format == FORMAT_FULL else "numpy"
        if not self._test_time_flip:
            proto = _single_pass(proto, path)
        if uint8_view:
            proto = _uint8_view(proto, path)
        meta = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props}, path)
        if meta.format != FORMAT_FULL:
            return self._new_session(proto.SerializeToString(), path), meta, "numpy"
        network = _cut_network(proto, meta, path) if prepost == "numpy" else None
        if network is None:
            return self._new_session(proto.SerializeToString(), path), meta, "graph"
        model, self._net_in, self._net_out = network
        return self._new_session(model, path), meta, "numpy"

    def _new_session(self, model: str | bytes, path: Path) -> ort.InferenceSession:
        try:
            return ort.InferenceSession(model, sess_options=self._options, providers=self._providers)
        except Exception as exc:  # InvalidProtobuf, InvalidGraph, Fail, NoSuchFile: all mean the file is bad
            raise ModelFileError(f"cannot load ONNX model {path}: {type(exc).__name__}: {exc}") from exc

    def _check_signature(self) -> None:
        inputs = {i.name: i for i in self._session.get_inputs()}
        outputs = {o.name: o for o in self._session.get_outputs()}
        if self.prepost == "graph":
            want_in, want_type, want_out = FULL_INPUT, "tensor(uint8)", set(FULL_OUTPUTS)
        else:
            want_in, want_type, want_out = self._net_in, "tensor(float)", {self._net_out}
        arg = inputs.get(want_in)
        problem = None
        if arg is None or len(inputs) != 1:
            problem = f"inputs {sorted(inputs)}, expected ['{want_in}']"
        elif arg.type != want_type or len(arg.shape) != 4:
            problem = f"input {want_in} is {arg.type} {arg.shape}, expected {want_type} of rank 4"
        elif not want_out <= set(outputs):
            problem = f"outputs {sorted(outputs)}, expected {sorted(want_out)}"
        elif self.prepost == "numpy" and list(arg.shape[1:]) != [3, *self.input_size]:
            problem = f"input shape {arg.shape} does not match the metadata input size {self.input_size}"
        if problem:
            raise ModelFileError(f"{self.model_path} does not follow the stdc_ros {self.format} convention: {problem}")

    def infer(self, image: np.ndarray, channel_order: ChannelOrder = "rgb", confidence: bool = False) -> Segmentation:
        image = check_image(image)
        size = image.shape[:2]
        with self._lock:
            try:
                if self._pre is None:
                    names = list(FULL_OUTPUTS) if confidence else [FULL_OUTPUTS[0]]
                    outputs = self._session.run(names, {FULL_INPUT: to_rgb(image, channel_order)[None]})
                    return Segmentation(outputs[0][0], outputs[1][0] if confidence else None)
                blob = self._pre(image, channel_order)
                logits = self._session.run([self._net_out], {self._net_in: blob})[0][0]
            except (ValueError, TypeError):
                raise
            except Exception as exc:  # onnxruntime's runtime errors (out of memory, provider failures)
                raise InferenceError(f"onnxruntime failed on {self.model_path.name}: {exc}") from exc
        labels, conf = argmax_confidence(logits, confidence)
        return Segmentation(self._resize(labels, size), self._resize(conf, size) if conf is not None else None)

    def network_call(self) -> Callable[[], object] | None:
        if self._pre is None:
            return None
        blob = np.zeros((1, 3, *self.input_size), dtype=np.float32)
        return lambda: self._session.run([self._net_out], {self._net_in: blob})

    def close(self) -> None:
        self._pre = None
        if hasattr(self, "_session"):
            del self._session

    def describe(self) -> str:
        h, w = self.input_size
        provider = self.providers[0].replace("ExecutionProvider", "") if self.providers else "?"
        how = f"{self.format}, pre/post in {self.prepost}" + (", flip-averaged" if self.meta.flip_average else "")
        how += f", {self.meta.precision}" if self.meta.precision != "fp32" else ""
        return f"onnxruntime ({provider}) {self.model_path.name} [{how}] @ {h}x{w}"
