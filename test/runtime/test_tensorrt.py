"""TensorRT backend: version rules, build plans and keys, then the whole flow (build, cache, deserialise, I/O,
infer) through fake ``tensorrt`` modules with the TensorRT 10.x and 11.x API faces and a fake cuda-python.

Real TensorRT is not installed in this workplace: the tests marked ``tensorrt`` at the end were written against
the TensorRT 10/11 Python API documentation and have not run yet (`make test-gpu` runs them).
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from stdc_ros.errors import InferenceError, ModelFileError
from stdc_ros.model_tools.tensorrt_build import (
    QUANTIZE_COMMAND,
    make_engine_key,
    network_recipe,
    plan_build,
    prepare_network,
)
from stdc_ros.runtime.conventions import read_model_metadata
from stdc_ros.runtime.cuda_api import GpuInfo
from stdc_ros.runtime.prepost import NearestResizer, Preprocessor, argmax_confidence
from stdc_ros.runtime.tensorrt_support import (
    BuildConfig,
    TensorRTFeatures,
    check_supported,
    cuda_major_of_build,
)

from .. import fake_cuda, fake_tensorrt

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


# --- versions, plans, keys (no fakes needed beyond reading their faces) -------------------------------------


def test_faces_match_the_real_apis() -> None:
    """11.x removed the weak-typing precision flags and every calibration API; 10.x still has them."""
    ten = TensorRTFeatures.of(fake_tensorrt.make_tensorrt(TRT10).module)
    eleven = TensorRTFeatures.of(fake_tensorrt.make_tensorrt(TRT11).module)
    assert {"FP16", "INT8", "GPU_FALLBACK"} <= ten.builder_flags and ten.has_calibrator
    assert not {"FP16", "INT8", "BF16", "FP8"} & eleven.builder_flags and not eleven.has_calibrator
    assert "GPU_FALLBACK" in eleven.builder_flags and ten.has_progress_monitor and eleven.has_progress_monitor
    assert "EXPLICIT_BATCH" in ten.network_flags and "EXPLICIT_BATCH" not in eleven.network_flags
    module = fake_tensorrt.make_tensorrt(TRT11).module
    assert not hasattr(module, "IInt8EntropyCalibrator2")
    assert not hasattr(module.Builder(module.Logger()).create_builder_config(), "int8_calibrator")


def test_tensorrt_before_10_is_refused_naming_the_version(caplog: pytest.LogCaptureFixture) -> None:
    old = TensorRTFeatures.of(fake_tensorrt.make_tensorrt("8.6.2").module)
    with pytest.raises(ImportError, match=r"TensorRT 8\.6\.2 is installed.*>= 10\.3.*JetPack 6\.0.*opset 17"):
        check_supported(old)
    with caplog.at_level(logging.WARNING):
        check_supported(TensorRTFeatures.of(fake_tensorrt.make_tensorrt("10.1.0").module))
    assert "older than the supported 10.3" in caplog.text
    for version in ("10.3.0", TRT10, TRT11, "11.4.1"):
        check_supported(TensorRTFeatures.of(fake_tensorrt.make_tensorrt(version).module))


@pytest.mark.parametrize("version", ["10.3.0", TRT10, TRT11])
def test_one_strongly_typed_plan_without_precision_flags(version: str) -> None:
    features = TensorRTFeatures.of(fake_tensorrt.make_tensorrt(version).module)
    for precision in ("fp32", "fp16", "int8"):
        plan = plan_build(features, BuildConfig(precision=precision))
        assert plan.network_flags == (("STRONGLY_TYPED",) if version.startswith("10") else ())
        assert plan.builder_flags == () and plan.dla_core == -1


def test_dla_plans(caplog: pytest.LogCaptureFixture) -> None:
    for version in ("10.3.0", "11.4.1", "11.5.0"):
        plan = plan_build(TensorRTFeatures.of(fake_tensorrt.make_tensorrt(version).module), BuildConfig(dla_core=1))
        assert plan.builder_flags == ("GPU_FALLBACK",) and plan.dla_core == 1
    for version in ("11.0.0", TRT11, "11.4.0"):
        with pytest.raises(ValueError, match=rf"TensorRT {version} lacks.*11\.x from 11\.4\.1"):
            plan_build(TensorRTFeatures.of(fake_tensorrt.make_tensorrt(version).module), BuildConfig(dla_core=0))
    with caplog.at_level(logging.WARNING):
        plan_build(TensorRTFeatures.of(fake_tensorrt.make_tensorrt(TRT10).module), BuildConfig("fp32", dla_core=0))
    assert "falls back to the GPU" in caplog.text


def test_build_config_validation() -> None:
    with pytest.raises(ValueError, match="precision"):
        BuildConfig(precision="bf16")
    with pytest.raises(ValueError, match="workspace"):
        BuildConfig(workspace_mib=1)
    with pytest.raises(ValueError, match="dla_core"):
        BuildConfig(dla_core=8)
    assert BuildConfig().precision == "fp16" and BuildConfig().dla_core == -1


def test_cuda_major_of_the_tensorrt_build() -> None:
    assert cuda_major_of_build(["tensorrt-cu13", "tensorrt_cu13_bindings"], 12060) == (13, "wheel tensorrt-cu13")
    assert cuda_major_of_build(["tensorrt_cu12_libs"], 13000)[0] == 12
    assert cuda_major_of_build(["tensorrt"], 12060) == (12, "CUDA runtime 12.6")  # JetPack's Debian package
    assert cuda_major_of_build([], 13010)[0] == 13


def test_engine_key_covers_every_build_input() -> None:
    config, shape = BuildConfig(), (1, 3, 360, 480)
    base = make_engine_key("s" * 64, TRT10, 12, GPU, config, shape)
    assert (base.compute_capability, base.sm_count, base.total_memory_mib, base.cuda_major) == ("8.7", 16, 65536, 12)
    variants = [
        make_engine_key("t" * 64, TRT10, 12, GPU, config, shape),
        make_engine_key("s" * 64, "10.9.0", 12, GPU, config, shape),
        make_engine_key("s" * 64, TRT10, 13, GPU, config, shape),  # cu13 wheel, same version string
        make_engine_key("s" * 64, TRT10, 12, GpuInfo(GPU.name, (8, 7), 8, 16 << 30), config, shape),  # Orin NX
        make_engine_key("s" * 64, TRT10, 12, GpuInfo(GPU.name, (8, 7), 16, 32 << 30), config, shape),  # 32 GB
        make_engine_key("s" * 64, TRT10, 12, GpuInfo("A100", (8, 0), 108, 80 << 30), config, shape),
        make_engine_key("s" * 64, TRT10, 12, GPU, BuildConfig(precision="fp32"), shape),
        make_engine_key("s" * 64, TRT10, 12, GPU, config, (1, 3, 720, 960)),
        make_engine_key("s" * 64, TRT10, 12, GPU, BuildConfig(workspace_mib=2048), shape),
        make_engine_key("s" * 64, TRT10, 12, GPU, BuildConfig(dla_core=0), shape),
        make_engine_key("s" * 64, TRT10, 12, GPU, config, shape, (("fp16_conversion", "converter 2.0"),)),
    ]
    assert all(v != base and v.differences(base.as_json()) for v in variants)


@needs_fp16_converter
def test_recipe_names_the_network_cut_and_the_fp16_converter(shipped_model: Path) -> None:
    meta = read_model_metadata(shipped_model)
    fp32 = dict(network_recipe(meta, "fp32"))
    assert fp32 == {"network": f"full:{meta.network_input}->{meta.network_output}:batch1"}
    fp16 = dict(network_recipe(meta, "fp16"))
    assert fp16["fp16_conversion"].startswith("onnxconverter-common ") and "ReduceMean" in fp16["fp16_conversion"]


# --- the network the engine is built from ----------------------------------------------------------------


@needs_fp16_converter
def test_fp16_conversion_agrees_with_fp32_on_camvid(shipped_model: Path, camvid_images: list[np.ndarray]) -> None:
    """The issue's bar: the converted network agrees with fp32 on >= 99.5 % of CamVid test pixels (ONNX Runtime)."""
    import onnx

    meta = read_model_metadata(shipped_model)
    fp32 = prepare_network(shipped_model, meta, "fp32")
    fp16 = prepare_network(shipped_model, meta, "fp16")
    network = onnx.load_from_string(fp16.model)
    (inp,), (out,) = network.graph.input, network.graph.output
    assert inp.type.tensor_type.elem_type == out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # fp32 I/O
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim] == [1, 3, 360, 480]
    convs = {n.input[1] for n in network.graph.node if n.op_type == "Conv"}
    weights = [t for t in network.graph.initializer if t.name in convs]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    produced = {o: n for n in network.graph.node for o in n.output}
    means = [n for n in network.graph.node if n.op_type == "ReduceMean"]
    assert means and all(produced[n.input[0]].op_type == "Cast" for n in means)  # kept in float32
    share = agreement(
        labels_of(fp32.model, shipped_model, camvid_images), labels_of(fp16.model, shipped_model, camvid_images)
    )
    print(f"\nfp16 vs fp32 labels on {len(camvid_images)} CamVid test frames: {100 * share:.3f} %")
    assert share >= 0.995


@needs_fp16_converter
def test_fp16_check_command(shipped_model: Path, camvid_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command behind the whole-split figure in docs/runtimes.md, on two frames."""
    from stdc_ros.model_tools.fp16_check import main

    assert main([str(shipped_model), "--camvid-root", str(camvid_root), "--frames", "2"]) == 0
    out = capsys.readouterr().out
    share = float(out.split("agree with fp32 on ")[1].split("%")[0])
    assert out.startswith("2 frames:") and share >= 99.5 and "mIoU fp32" in out


def test_int32_biases_are_folded_into_float_without_changing_results(
    tiny_int32_bias_qdq_onnx: Path, camvid_images: list[np.ndarray]
) -> None:
    """ONNX Runtime's quantized Conv biases (int32 DequantizeLinear) would fail TensorRT's parser: folded first."""
    import onnx
    import onnxruntime as ort

    from stdc_ros.model_tools.onnx_tools import fold_int32_dequantize, qdq_report

    model = onnx.load(str(tiny_int32_bias_qdq_onnx))
    int32 = {t.name for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT32}
    biases = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in int32]
    assert biases and "int32" in qdq_report(model).zero_point_types
    folded, count = fold_int32_dequantize(model)
    assert count == len(biases) and qdq_report(folded).zero_point_types == {"int8"}
    image = camvid_images[0][None]
    outputs = [
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"image": image})
        for m in (model, folded)
    ]
    for before, after in zip(*outputs, strict=True):
        np.testing.assert_array_equal(before, after)
    meta = read_model_metadata(tiny_int32_bias_qdq_onnx)
    assert prepare_network(tiny_int32_bias_qdq_onnx, meta, "int8").precision == "int8"


def test_precision_and_model_mismatches_are_refused(
    tiny_onnx: Path, tiny_qdq_onnx: Path, tiny_uint8_qdq_onnx: Path
) -> None:
    with pytest.raises(ModelFileError, match=rf"int8 needs a Q/DQ.*{QUANTIZE_COMMAND[:15]}"):
        prepare_network(tiny_onnx, read_model_metadata(tiny_onnx), "int8")
    with pytest.raises(ModelFileError, match=rf"uint8; TensorRT takes int8 only.*{QUANTIZE_COMMAND[:15]}"):
        prepare_network(tiny_uint8_qdq_onnx, read_model_metadata(tiny_uint8_qdq_onnx), "int8")
    with pytest.raises(ModelFileError, match=r"is quantized.*needs the float model"):
        prepare_network(tiny_qdq_onnx, read_model_metadata(tiny_qdq_onnx), "fp16")
    source = prepare_network(tiny_qdq_onnx, read_model_metadata(tiny_qdq_onnx), "int8")
    assert source.precision == "int8" and source.input_name == read_model_metadata(tiny_qdq_onnx).network_input


# --- the whole flow through the fakes --------------------------------------------------------------------


@pytest.mark.parametrize("version", FACES)
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_build_cache_and_infer_on_both_faces(
    fakes, version: str, precision: str, tiny_onnx: Path, camvid_images, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from stdc_ros.runtime import create_runtime

    if precision == "fp16" and importlib.util.find_spec("onnxconverter_common") is None:
        pytest.skip("onnxconverter-common not installed")
    trt, cuda = fakes(version)
    model = request.getfixturevalue("tiny_qdq_onnx") if precision == "int8" else tiny_onnx
    meta = read_model_metadata(model)
    progress: list[str] = []
    with create_runtime(
        "tensorrt", model, device="cuda", precision=precision, cache_dir=tmp_path, progress=progress.append
    ) as rt:
        assert rt.cached.built and rt.cached.path is not None and rt.cached.path.parent == tmp_path
        labels = [rt.infer(image).labels for image in camvid_images[:3]]
        seg = rt.infer(camvid_images[0][:, ::-1], channel_order="bgr", confidence=True)
        assert seg.labels.shape == (360, 480) and seg.confidence.dtype == np.float32
        assert rt.fallback == "" and precision in rt.describe()
    (record,) = trt.builds
    assert (record.input_name, record.input_shape, record.input_dtype) == (meta.network_input, (1, 3, 96, 128), "FLOAT")
    assert record.output_name == meta.network_output and record.strongly_typed
    assert record.network_flags == (2 if version == TRT10 else 0)  # 1 << STRONGLY_TYPED on 10.x; 11.x: none
    assert record.builder_flags == frozenset() and record.network_precision == precision
    assert record.workspace == 1024 << 20 and record.profiles == [] and record.dla_core == -1
    assert record.progress_monitor and "building TensorRT engine: Building engine 3/3" in progress
    # the engine ran exactly the network it was given, with the backend's numpy pre/post-processing
    expected = labels_of(prepare_network(model, meta, precision).model, model, camvid_images[:3])
    assert agreement(labels, expected) == 1.0
    assert not cuda.device_memory and not cuda.host_memory and not cuda.streams  # close() freed everything
    with create_runtime("tensorrt", model, precision=precision, cache_dir=tmp_path) as again:
        assert not again.cached.built and again.cached.reason == "hit"
        np.testing.assert_array_equal(again.infer(camvid_images[0]).labels, labels[0])
    assert len(trt.builds) == 1


@pytest.mark.parametrize(("version", "precision"), [(TRT10, "fp32"), (TRT11, "fp16"), (TRT11, "int8")])
def test_shipped_full_model_matches_the_onnxruntime_backend(
    fakes, version: str, precision: str, repo_root: Path, camvid_images, tmp_path: Path
) -> None:
    """The shipped models as they are: the network is cut out, built alone, and gives ONNX Runtime's labels
    (int8: the shipped Q/DQ model against the ONNX Runtime backend running the same file)."""
    from stdc_ros.runtime import create_runtime

    if precision == "fp16" and importlib.util.find_spec("onnxconverter_common") is None:
        pytest.skip("onnxconverter-common not installed")
    shipped_model = repo_root / "models" / ("stdc1_camvid_int8.onnx" if precision == "int8" else "stdc1_camvid.onnx")
    if not shipped_model.is_file():
        pytest.skip(f"{shipped_model} not shipped")
    trt, _ = fakes(version)
    frames = camvid_images[:3]
    with create_runtime("onnxruntime", shipped_model) as reference:
        expected = [reference.infer(image).labels for image in frames]
    with create_runtime("tensorrt", shipped_model, precision=precision, cache_dir=tmp_path) as rt:
        got = [rt.infer(image).labels for image in frames]
    meta = read_model_metadata(shipped_model)
    assert trt.builds[0].input_name == meta.network_input and trt.builds[0].input_shape == (1, 3, 360, 480)
    share = agreement(got, expected)
    print(f"\ntensorrt ({version} fake, {precision}) vs onnxruntime, {len(frames)} frames: {100 * share:.3f} %")
    # int8: ONNX Runtime fuses the file's int32-bias Q/DQ Convs into integer kernels, the TensorRT network (float
    # biases) runs dequantized float Convs on this CPU: two valid int8 executions (99.6 % on these frames)
    assert share >= {"fp32": 1.0, "fp16": 0.995, "int8": 0.99}[precision]
    assert trt.builds[0].network_precision == precision


def test_raw_exports_keep_working(fakes, tiny_raw_onnx: Path, camvid_images, tmp_path: Path) -> None:
    from stdc_ros.runtime import create_runtime

    trt, _ = fakes(TRT10)
    with create_runtime("onnxruntime", tiny_raw_onnx) as reference:
        expected = reference.infer(camvid_images[0]).labels
    with create_runtime("tensorrt", tiny_raw_onnx, precision="fp32", cache_dir=tmp_path) as rt:
        np.testing.assert_array_equal(rt.infer(camvid_images[0]).labels, expected)
    assert trt.builds[0].input_name == "input" and trt.builds[0].input_shape == (1, 3, 96, 128)


def test_prebuilt_engines_and_garbage(fakes, tiny_onnx: Path, camvid_images, tmp_path: Path) -> None:
    from stdc_ros.runtime import create_runtime

    fakes(TRT10)
    with create_runtime("tensorrt", tiny_onnx, precision="fp32", cache_dir=tmp_path / "cache") as rt:
        expected = rt.infer(camvid_images[0]).labels
        engine = rt.cached.path
    given = tmp_path / "given.engine"
    shutil.copy(engine, given)
    with create_runtime("tensorrt", given) as rt:
        assert rt.input_size == (96, 128) and rt.num_classes == 11 and "prebuilt" in rt.describe()
        np.testing.assert_array_equal(rt.infer(camvid_images[0]).labels, expected)
    given.write_bytes(b"not an engine" * 100)
    with pytest.raises(ModelFileError, match=r"given\.engine is not an engine TensorRT 10\.8\.0 can load"):
        create_runtime("tensorrt", given)


def test_engine_of_another_tensorrt_is_rebuilt_never_loaded(
    fakes, tiny_onnx: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from stdc_ros.runtime import create_runtime

    fakes(TRT10)
    with create_runtime("tensorrt", tiny_onnx, precision="fp32", cache_dir=tmp_path) as rt:
        first = rt.cached.path
    trt, _ = fakes("10.9.0")  # an upgrade: same slot, stale key
    with (
        caplog.at_level(logging.WARNING),
        create_runtime("tensorrt", tiny_onnx, precision="fp32", cache_dir=tmp_path) as rt,
    ):
        assert rt.cached.built and rt.cached.path == first
        assert "tensorrt_version: '10.8.0' -> '10.9.0'" in rt.cached.reason
    assert trt.refused_plans == 0 and trt.deserialized == 1  # the old plan never reached the deserialiser
    first.write_bytes(first.read_bytes()[:500])  # truncated on disk: caught by the sidecar's hash
    with create_runtime("tensorrt", tiny_onnx, precision="fp32", cache_dir=tmp_path) as rt:
        assert rt.cached.built and rt.cached.reason.startswith("corrupt")
    assert trt.refused_plans == 0


def test_dla_builds_record_the_core(fakes, tiny_onnx: Path, tmp_path: Path) -> None:
    from stdc_ros.runtime import create_runtime

    trt, _ = fakes(TRT10, dla_cores=2)
    with create_runtime("tensorrt", tiny_onnx, precision="fp32", cache_dir=tmp_path, dla_core=1) as rt:
        assert "DLA core 1" in rt.describe() and ".dla1." in rt.cached.path.name
    record = trt.builds[0]
    assert (record.default_device_type, record.dla_core) == ("DLA", 1) and "GPU_FALLBACK" in record.builder_flags
    fakes(TRT10, dla_cores=0)  # a desktop GPU
    with pytest.raises(ValueError, match="dla_core=0 but this device has 0 DLA cores"):
        create_runtime("tensorrt", tiny_onnx, precision="fp32", cache_dir=tmp_path, dla_core=0)
    fakes(TRT11, dla_cores=2)
    with pytest.raises(ValueError, match=r"TensorRT 11\.1\.0 lacks"):
        create_runtime("tensorrt", tiny_onnx, precision="fp32", cache_dir=tmp_path, dla_core=0)


def test_unsupported_tensorrt_and_missing_cuda_python(
    fakes, monkeypatch: pytest.MonkeyPatch, tiny_onnx: Path, tmp_path: Path
) -> None:
    from stdc_ros.runtime.tensorrt_backend import TensorRTSegmentation

    trt, _ = fakes("8.6.2")
    with pytest.raises(ImportError, match=r"8\.6\.2 is installed"):
        TensorRTSegmentation(tiny_onnx, cache_dir=tmp_path)
    assert not trt.builds
    fakes(TRT10)
    import sys

    for name in [n for n in sys.modules if n == "cuda" or n.startswith("cuda.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cuda", None)  # cuda-python not installed
    with pytest.raises(ImportError, match="cuda-python"):
        TensorRTSegmentation(tiny_onnx, cache_dir=tmp_path)


def test_legacy_cuda_python_layout(fakes, tiny_onnx: Path, tmp_path: Path) -> None:
    from stdc_ros.runtime.tensorrt_backend import TensorRTSegmentation

    _, cuda = fakes(TRT10, layout="legacy")  # cuda-python < 12.6: from cuda import cudart
    with TensorRTSegmentation(tiny_onnx, precision="fp32", cache_dir=tmp_path) as rt:
        assert rt.gpu.name == "NVIDIA Fake GPU" and rt.gpu.sm_count == 16
        rt.infer(np.zeros((60, 80, 3), np.uint8))
    assert any(c.startswith("cudaMemcpyAsync(cudaMemcpyDeviceToHost") for c in cuda.calls)


def test_refused_tensor_address_fails_and_frees(fakes, tiny_onnx: Path, tmp_path: Path) -> None:
    from stdc_ros.runtime.tensorrt_backend import TensorRTSegmentation

    _, cuda = fakes(TRT10, misalign=16)  # set_tensor_address returns False for misaligned memory
    with pytest.raises(InferenceError, match="refused the device address"):
        TensorRTSegmentation(tiny_onnx, precision="fp32", cache_dir=tmp_path)
    assert not cuda.device_memory and not cuda.host_memory and not cuda.streams


def test_runs_from_another_thread_on_a_second_gpu(fakes, tiny_onnx: Path, camvid_images, tmp_path: Path) -> None:
    from stdc_ros.runtime.tensorrt_backend import TensorRTSegmentation

    _, cuda = fakes(TRT10)
    cuda.devices.append(fake_cuda.DeviceProperties(name=b"Second GPU\0\0"))
    with TensorRTSegmentation(tiny_onnx, device="cuda:1", precision="fp32", cache_dir=tmp_path) as rt:
        assert rt.gpu.name == "Second GPU" and rt.device == "cuda:1"
        expected = rt.infer(camvid_images[0]).labels
        out: list[np.ndarray] = []
        cuda.current_device = 0  # a fresh thread starts on device 0
        worker = threading.Thread(target=lambda: out.append(rt.infer(camvid_images[0]).labels))
        worker.start()
        worker.join(timeout=60)
        assert cuda.current_device == 1
    np.testing.assert_array_equal(out[0], expected)
    with pytest.raises(ValueError, match="cuda' or 'cuda:N'"):
        TensorRTSegmentation(tiny_onnx, device="gpu", cache_dir=tmp_path)


def test_build_engine_command(fakes, tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stdc_ros.cli import main

    trt, _ = fakes(TRT11)
    args = ["build-engine", str(tiny_onnx), "--precision", "fp32", "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    assert "engine built" in capsys.readouterr().out
    assert main(args) == 0
    assert "already cached and valid" in capsys.readouterr().out
    assert len(trt.builds) == 1
    assert main([*args[:2], "--precision", "int8", "--cache-dir", str(tmp_path)]) == 1  # not a Q/DQ model
    assert main([*args, "--dla-core", "9"]) == 2


def test_build_engine_command_without_tensorrt(monkeypatch: pytest.MonkeyPatch, tiny_onnx: Path) -> None:
    from stdc_ros.cli import main

    monkeypatch.setitem(__import__("sys").modules, "tensorrt", None)
    assert main(["build-engine", str(tiny_onnx), "--precision", "fp32"]) == 2


def test_tensorrt_backend_is_listed_only_with_its_packages() -> None:
    from stdc_ros.runtime import available_backends

    has = all(importlib.util.find_spec(p) is not None for p in ("tensorrt", "cuda"))
    assert ("tensorrt" in available_backends()) == has


# --- real TensorRT (skipped here) ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def trt_ready() -> None:
    pytest.importorskip("tensorrt")
    from stdc_ros.runtime.cuda_api import CudaRuntime

    try:
        count = CudaRuntime().device_count()
    except ImportError as exc:
        pytest.skip(str(exc))
    if count == 0:
        pytest.skip("no CUDA device")


@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_real_tensorrt_matches_onnxruntime_and_caches(
    trt_ready, precision: str, shipped_model: Path, camvid_images, tmp_path: Path
) -> None:
    from stdc_ros.runtime import create_runtime

    with create_runtime("onnxruntime", shipped_model) as reference:
        expected = [reference.infer(image).labels for image in camvid_images]
    with create_runtime("tensorrt", shipped_model, precision=precision, cache_dir=tmp_path) as rt:
        assert rt.cached.built
        share = agreement([rt.infer(image).labels for image in camvid_images], expected)
        engine = rt.cached.path
    print(f"\nreal tensorrt {precision} vs onnxruntime fp32: {100 * share:.3f} %")
    assert share >= (0.999 if precision == "fp32" else 0.995)
    with create_runtime("tensorrt", shipped_model, precision=precision, cache_dir=tmp_path) as rt:
        assert not rt.cached.built
    given = tmp_path / "given.engine"
    shutil.copy(engine, given)
    with create_runtime("tensorrt", given) as rt:
        assert rt.input_size == (360, 480)


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_real_tensorrt_int8_from_the_qdq_model(trt_ready, repo_root: Path, camvid_images, tmp_path: Path) -> None:
    from stdc_ros.runtime import create_runtime

    model = repo_root / "models" / "stdc1_camvid_int8.onnx"
    if not model.is_file():
        pytest.skip(f"{model} not shipped")
    with create_runtime("onnxruntime", model) as reference:
        expected = [reference.infer(image).labels for image in camvid_images]
    with create_runtime("tensorrt", model, precision="int8", cache_dir=tmp_path) as rt:
        share = agreement([rt.infer(image).labels for image in camvid_images], expected)
    print(f"\nreal tensorrt int8 vs onnxruntime int8: {100 * share:.3f} %")
    assert share >= 0.99
