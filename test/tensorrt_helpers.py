"""Shared by the TensorRT tests of the runtime (test/runtime/test_tensorrt.py) and of the engine builder
(test/model_tools/test_tensorrt_build.py): the fake TensorRT faces, Q/DQ copies of the tiny model, and labels of a
cut network run with ONNX Runtime. The fixtures are imported by both folders' conftest.py.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest

from stdc_ros.runtime.conventions import read_model_metadata
from stdc_ros.runtime.cuda_api import GpuInfo
from stdc_ros.runtime.prepost import NearestResizer, Preprocessor, argmax_confidence

from . import fake_cuda, fake_tensorrt

TRT10, TRT11 = "10.8.0", "11.1.0"
FACES = (TRT10, TRT11)
GPU = GpuInfo("NVIDIA Jetson AGX Orin", (8, 7), 16, 64 << 30)

needs_fp16_converter = pytest.mark.skipif(
    importlib.util.find_spec("onnxconverter_common") is None, reason="onnxconverter-common not installed"
)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch):
    """``install(version, ...)`` puts a fake tensorrt of that face and a fake cuda-python in sys.modules."""

    def install(
        version: str = TRT10, dla_cores: int = 0, layout: str = "bindings", misalign: int = 0
    ) -> tuple[fake_tensorrt.FakeTensorRT, fake_cuda.FakeCuda]:
        cuda = fake_cuda.install(monkeypatch, fake_cuda.FakeCuda(misalign=misalign), layout)
        trt = fake_tensorrt.install(monkeypatch, fake_tensorrt.make_tensorrt(version, cuda, dla_cores))
        return trt, cuda

    return install


@pytest.fixture(scope="session")
def shipped_model(repo_root: Path) -> Path:
    return repo_root / "models" / "stdc1_camvid.onnx"


def _quantize(model: Path, out: Path, symmetric: bool, quantize_bias: bool = False) -> Path:
    """A Q/DQ copy of a full tiny model (Conv only; biases float, or int32 as ONNX Runtime's default)."""
    import onnx

    # ONNX Runtime's quantization tools need ml_dtypes, which the Jazzy test environment lacks
    quantization = pytest.importorskip("onnxruntime.quantization", reason="onnxruntime.quantization not importable")
    CalibrationDataReader, QuantFormat = quantization.CalibrationDataReader, quantization.QuantFormat
    QuantType, quantize_static = quantization.QuantType, quantization.quantize_static

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self._items = iter({"image": rng.integers(0, 256, (1, 120, 160, 3), np.uint8)} for _ in range(2))

        def get_next(self) -> dict | None:
            return next(self._items, None)

    kind = QuantType.QInt8 if symmetric else QuantType.QUInt8
    options = {"ActivationSymmetric": symmetric, "WeightSymmetric": True, "QuantizeBias": quantize_bias}
    logging.getLogger().setLevel(logging.WARNING)
    quantize_static(str(model), str(out), Frames(), quant_format=QuantFormat.QDQ, activation_type=kind,
                    weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"], extra_options=options)  # fmt: skip
    proto = onnx.load(str(out))
    for prop in proto.metadata_props:
        if prop.key == "stdc_ros.precision":
            prop.value = "int8"
    onnx.save(proto, str(out))
    return out


@pytest.fixture(scope="session")
def tiny_qdq_onnx(tiny_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _quantize(tiny_onnx, tmp_path_factory.mktemp("qdq") / "tiny_int8.onnx", symmetric=True)


@pytest.fixture(scope="session")
def tiny_int32_bias_qdq_onnx(tiny_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _quantize(tiny_onnx, tmp_path_factory.mktemp("qdq") / "tiny_bias.onnx", symmetric=True, quantize_bias=True)


@pytest.fixture(scope="session")
def tiny_uint8_qdq_onnx(tiny_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _quantize(tiny_onnx, tmp_path_factory.mktemp("qdq") / "tiny_uint8.onnx", symmetric=False)


def labels_of(network: bytes, model: Path, images: list[np.ndarray]) -> list[np.ndarray]:
    """Labels of ``network`` (a cut network ONNX) run directly with ONNX Runtime and numpy pre/post-processing."""
    import onnxruntime as ort

    meta = read_model_metadata(model)
    session = ort.InferenceSession(network, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    pre, resize = Preprocessor(meta.input_size, meta.mean, meta.std), NearestResizer()
    out = []
    for image in images:
        logits = session.run(None, {name: pre(image)})[0][0]
        out.append(resize(argmax_confidence(logits, False)[0], image.shape[:2]))
    return out


def agreement(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.mean(np.concatenate([(x == y).ravel() for x, y in zip(a, b, strict=True)])))
