"""TensorRT backend: the version-dependent build rules (no TensorRT needed), then real builds (marker tensorrt).

TensorRT is not installed in this workplace, nor on its lent GPU machine: the tests marked ``tensorrt`` were
written against the TensorRT 10/11 Python API documentation and have not run yet (`make test-gpu` runs them).
"""

from __future__ import annotations

import importlib.util
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from stdc_ros.errors import ModelFileError
from stdc_ros.runtime.tensorrt_backend import (
    BuildConfig,
    calibration_fingerprint,
    calibration_images,
    make_engine_key,
    plan_precision,
)

TRT10_FLAGS = {"FP16", "INT8", "BF16", "TF32", "REFIT", "STRICT_TYPES"}
TRT11_FLAGS = {"TF32", "REFIT", "DEBUG"}  # no weak-typing precision flags
NET10 = {"EXPLICIT_BATCH", "STRONGLY_TYPED"}


def test_fp16_on_tensorrt10_uses_the_builder_flag() -> None:
    plan = plan_precision("fp16", "fp32", "10.8.0", TRT10_FLAGS, NET10, has_calibrator_api=True)
    assert plan.builder_flags == ("FP16",) and plan.network_flags == () and not plan.calibrate


def test_fp16_on_tensorrt11_needs_a_float16_onnx() -> None:
    with pytest.raises(ModelFileError, match=r"no FP16 builder flag.*--format raw --half"):
        plan_precision("fp16", "fp32", "11.3.0", TRT11_FLAGS, set(), has_calibrator_api=False)
    plan = plan_precision("fp16", "fp16", "11.3.0", TRT11_FLAGS, set(), has_calibrator_api=False)
    assert plan.builder_flags == () and plan.network_flags == ()  # strongly typed is the only mode


def test_float16_onnx_on_tensorrt10_builds_strongly_typed() -> None:
    plan = plan_precision("fp16", "fp16", "10.8.0", TRT10_FLAGS, NET10, has_calibrator_api=True)
    assert plan.network_flags == ("STRONGLY_TYPED",) and plan.builder_flags == ()
    with pytest.raises(ModelFileError, match="only build fp16"):
        plan_precision("fp32", "fp16", "10.8.0", TRT10_FLAGS, NET10, has_calibrator_api=True)


def test_int8_needs_implicit_quantization() -> None:
    plan = plan_precision("int8", "fp32", "10.8.0", TRT10_FLAGS, NET10, has_calibrator_api=True)
    assert plan.calibrate and plan.builder_flags == ("INT8", "FP16")
    with pytest.raises(ValueError, match=r"removed in 11\.x"):
        plan_precision("int8", "fp32", "11.3.0", TRT11_FLAGS, set(), has_calibrator_api=False)


def test_fp32_and_old_tensorrt() -> None:
    assert plan_precision("fp32", "fp32", "11.3.0", TRT11_FLAGS, set(), False).builder_flags == ()
    old = plan_precision("fp16", "fp32", "8.6.1", TRT10_FLAGS, NET10, has_calibrator_api=True)
    assert old.network_flags == ("EXPLICIT_BATCH",)  # implicit batch was the default before 10


def test_build_config_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="precision"):
        BuildConfig(precision="bf16")
    with pytest.raises(ValueError, match="calibration_dir"):
        BuildConfig(precision="int8")
    with pytest.raises(ValueError, match="workspace"):
        BuildConfig(workspace_mib=1)
    assert BuildConfig(precision="int8", calibration_dir=tmp_path).calibration_frames == 200


def test_calibration_frames_and_fingerprint(tmp_path: Path, camvid_test_frames) -> None:
    folder = tmp_path / "frames"
    (folder / "sub").mkdir(parents=True)
    for i, (_, image, _) in enumerate(camvid_test_frames):
        target = folder / ("sub" if i % 2 else "") / f"f{i}.png"
        cv2.imwrite(str(target), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("not an image")
    files = calibration_images(folder, 200)
    assert len(files) == len(camvid_test_frames) and all(f.suffix == ".png" for f in files)
    assert len(calibration_images(folder, 3)) == 3
    first = calibration_fingerprint(files)
    assert calibration_fingerprint(files) == first
    assert calibration_fingerprint(files[:-1]) != first
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        calibration_images(tmp_path / "empty", 5)
    with pytest.raises(FileNotFoundError, match="not found"):
        calibration_images(tmp_path / "absent", 5)


def test_engine_key_covers_every_build_input() -> None:
    config = BuildConfig()
    base = make_engine_key("s" * 64, "10.8.0", "Orin", (8, 7), config, (1, 3, 360, 480))
    assert base.compute_capability == "8.7" and base.precision == "fp16"
    variants = [
        make_engine_key("t" * 64, "10.8.0", "Orin", (8, 7), config, (1, 3, 360, 480)),
        make_engine_key("s" * 64, "10.9.0", "Orin", (8, 7), config, (1, 3, 360, 480)),
        make_engine_key("s" * 64, "10.8.0", "A100", (8, 0), config, (1, 3, 360, 480)),
        make_engine_key("s" * 64, "10.8.0", "Orin", (8, 7), BuildConfig(precision="fp32"), (1, 3, 360, 480)),
        make_engine_key("s" * 64, "10.8.0", "Orin", (8, 7), config, (1, 3, 720, 960)),
        make_engine_key("s" * 64, "10.8.0", "Orin", (8, 7), BuildConfig(workspace_mib=2048), (1, 3, 360, 480)),
        make_engine_key("s" * 64, "10.8.0", "Orin", (8, 7), config, (1, 3, 360, 480), calibration="abc"),
    ]
    assert all(v != base and v.differences(base.as_json()) for v in variants)


def test_tensorrt_backend_is_listed_only_with_its_packages() -> None:
    from stdc_ros.runtime import available_backends

    has_trt = importlib.util.find_spec("tensorrt") is not None
    assert ("tensorrt" in available_backends()) == has_trt


# --- real TensorRT (skipped here) ------------------------------------------------------------------------


# Session scope so that these skip before the session fixtures they precede (exports, torch references) run.
@pytest.fixture(scope="session")
def cuda_ready() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")


@pytest.fixture(scope="session")
def trt_ready(cuda_ready) -> None:
    pytest.importorskip("tensorrt")


@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tensorrt_agrees_with_torch_and_caches(
    trt_ready, precision: str, tiny_raw_onnx: Path, tiny_checkpoint: Path, camvid_images, references, tmp_path: Path
) -> None:
    from stdc_ros.runtime import create_runtime
    from stdc_ros.runtime.agreement import compare

    cache = tmp_path / "engines"
    t0 = time.monotonic()
    with create_runtime("tensorrt", tiny_raw_onnx, device="cuda", precision=precision, cache_dir=cache) as rt:
        assert rt.cached.built and rt.cached.path is not None and rt.cached.path.parent == cache
        report = compare(references, rt, camvid_images)
        seg = rt.infer(camvid_images[0], confidence=True)
        assert seg.labels.shape == camvid_images[0].shape[:2] and seg.confidence.dtype == np.float32
    built_in = time.monotonic() - t0
    print(f"\ntensorrt {precision} vs torch: {report.summary()} (first start {built_in:.1f} s)")
    assert report.confident >= (0.999 if precision == "fp32" else 0.99)
    with create_runtime("tensorrt", tiny_raw_onnx, device="cuda", precision=precision, cache_dir=cache) as rt:
        assert not rt.cached.built  # second start: from the cache
        engine = rt.cached.path
    prebuilt = tmp_path / "given.engine"
    prebuilt.write_bytes(engine.read_bytes())
    with create_runtime("tensorrt", prebuilt) as rt:
        assert rt.input_size == (96, 128) and rt.num_classes == 11 and "prebuilt" in rt.describe()
        np.testing.assert_array_equal(rt.infer(camvid_images[0]).labels, seg.labels)
    prebuilt.write_bytes(b"not an engine")
    with pytest.raises(ModelFileError, match=r"given\.engine"):
        create_runtime("tensorrt", prebuilt)


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_tensorrt_rebuilds_a_corrupt_cached_engine(
    trt_ready, tiny_raw_onnx: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from stdc_ros.runtime import create_runtime

    with create_runtime("tensorrt", tiny_raw_onnx, precision="fp32", cache_dir=tmp_path) as rt:
        engine = rt.cached.path
    engine.write_bytes(engine.read_bytes()[:1000])
    with (
        caplog.at_level(logging.WARNING),
        create_runtime("tensorrt", tiny_raw_onnx, precision="fp32", cache_dir=tmp_path) as rt,
    ):
        assert rt.cached.built and "corrupt" in rt.cached.reason
    assert any("corrupt" in r.getMessage() for r in caplog.records)


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_tensorrt_runs_from_a_callback_thread(trt_ready, tiny_raw_onnx: Path, camvid_images, tmp_path: Path) -> None:
    import threading

    from stdc_ros.runtime import create_runtime

    with create_runtime("tensorrt", tiny_raw_onnx, precision="fp32", cache_dir=tmp_path) as rt:
        expected = rt.infer(camvid_images[0]).labels
        out: list[np.ndarray] = []
        worker = threading.Thread(target=lambda: out.append(rt.infer(camvid_images[0]).labels))
        worker.start()
        worker.join(timeout=60)
    np.testing.assert_array_equal(out[0], expected)


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_build_engine_command(
    trt_ready, tiny_raw_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stdc_ros.cli import main

    args = ["build-engine", str(tiny_raw_onnx), "--precision", "fp32", "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    assert "engine built" in capsys.readouterr().out
    assert main(args) == 0
    assert "already cached and valid" in capsys.readouterr().out


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_int8_entropy_calibration(trt_ready, tiny_raw_onnx: Path, camvid_test_frames, tmp_path: Path) -> None:
    import tensorrt as trt

    from stdc_ros.runtime import create_runtime

    if not hasattr(trt.BuilderFlag, "INT8"):
        pytest.skip(f"TensorRT {trt.__version__} has no implicit INT8")
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, (_, image, _) in enumerate(camvid_test_frames):
        cv2.imwrite(str(frames / f"{i}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    with create_runtime(
        "tensorrt", tiny_raw_onnx, precision="int8", calibration_dir=frames, cache_dir=tmp_path / "engines"
    ) as rt:
        assert rt.infer(camvid_test_frames[0][1]).labels.shape == (360, 480)
    assert list((tmp_path / "engines").glob("*.calib"))


@pytest.mark.gpu
def test_torch_cuda_matches_cpu(cuda_ready, tiny_checkpoint: Path, camvid_images, references) -> None:
    from stdc_ros.runtime import create_runtime
    from stdc_ros.runtime.agreement import compare

    with create_runtime("torch", tiny_checkpoint, device="cuda") as rt:
        report = compare(references, rt, camvid_images)
    assert report.confident >= 0.999
