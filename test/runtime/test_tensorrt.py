"""TensorRT backend: version rules and engine options, then the whole flow (build, cache, deserialise, I/O, infer)
through fake ``tensorrt`` modules with the TensorRT 10.x and 11.x API faces and a fake cuda-python. The builder's
own tests (plans, keys, the network built from, ``build-engine``) are in test/model_tools/test_tensorrt_build.py.

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
from stdc_ros.model_tools.tensorrt_build import prepare_network
from stdc_ros.runtime.conventions import read_model_metadata
from stdc_ros.runtime.tensorrt_support import BuildConfig, TensorRTFeatures, check_supported, cuda_major_of_build

from .. import fake_cuda, fake_tensorrt
from ..tensorrt_helpers import FACES, TRT10, TRT11, agreement, labels_of

# --- versions and engine options (no fakes needed beyond reading their faces) ------------------------------


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
    from stdc_ros.machine import cpu_has_int8_dot_product
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
    # biases) runs dequantized float Convs on this CPU: two valid int8 executions (99.6 % on these frames). Without
    # int8 dot products (AVX2) ONNX Runtime's integer kernels round further from the float ones (94.2 % here).
    int8_floor = 0.99 if cpu_has_int8_dot_product() else 0.93
    assert share >= {"fp32": 1.0, "fp16": 0.995, "int8": int8_floor}[precision]
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
