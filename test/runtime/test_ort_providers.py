"""ONNX Runtime's providers: a missing GPU provider fails unless fallback is allowed; the TensorRT provider gets the
precision, DLA, explicit profile shapes and a cache folder per TensorRT, ONNX Runtime and GPU."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from stdc_ros.runtime import create_runtime
from stdc_ros.runtime.conventions import read_model_metadata
from stdc_ros.runtime.ort_providers import (
    CPU,
    CUDA,
    TENSORRT,
    cache_subfolder,
    check_session_providers,
    select_providers,
    tensorrt_profile,
)

ALL = [TENSORRT, CUDA, CPU]
IDENTITY = {"trt_version": "10.3.0", "gpu": "Orin_sm87_16sm", "ort_version": "1.20.0"}


def names(providers: list) -> list[str]:
    return [p[0] if isinstance(p, tuple) else p for p in providers]


def test_a_missing_gpu_provider_fails_naming_what_is_installed(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match=r"no CUDAExecutionProvider \(it has CPUExecutionProvider.*allow_provider_"):
        select_providers("cuda:1", [CPU])
    with pytest.raises(ValueError, match=r"no TensorrtExecutionProvider \(it has CUDAExecutionProvider, CPU"):
        select_providers("tensorrt", [CUDA, CPU], **IDENTITY)
    with caplog.at_level(logging.ERROR):
        choice = select_providers("cuda:1", [CPU], allow_fallback=True)
    assert choice.providers == [CPU] and "no CUDAExecutionProvider" in choice.fallback
    assert "running on CPUExecutionProvider" in choice.fallback and choice.fallback in caplog.text
    choice = select_providers("tensorrt", [CUDA, CPU], allow_fallback=True, **IDENTITY)
    assert names(choice.providers) == [CUDA, CPU] and "running on CUDAExecutionProvider" in choice.fallback
    assert select_providers("cpu", [CPU]).fallback == ""
    assert select_providers("cuda", ALL).providers[0] == (CUDA, {"device_id": 0})


@pytest.mark.parametrize(
    ("precision", "fp16", "int8"), [("fp32", False, False), ("fp16", True, False), ("int8", False, True)]
)
def test_tensorrt_provider_options(tmp_path: Path, precision: str, fp16: bool, int8: bool) -> None:
    profile = ("add_20", (1, 3, 360, 480))
    choice = select_providers("tensorrt:1", ALL, tmp_path, precision=precision, dla_core=1, profile=profile, **IDENTITY)
    assert names(choice.providers) == ALL and choice.fallback == ""
    options = choice.providers[0][1]
    assert options["device_id"] == 1 and choice.providers[1] == (CUDA, {"device_id": 1})
    assert (options["trt_fp16_enable"], options["trt_int8_enable"]) == (fp16, int8)
    assert options["trt_dla_enable"] is True and options["trt_dla_core"] == 1
    for which in ("min", "opt", "max"):
        assert options[f"trt_profile_{which}_shapes"] == "add_20:1x3x360x480"
    folder = tmp_path / "trt10.3.0-ort1.20.0-Orin_sm87_16sm"
    assert options["trt_engine_cache_path"] == options["trt_timing_cache_path"] == str(folder)
    assert folder.is_dir()
    plain = select_providers("tensorrt", ALL, tmp_path, **IDENTITY).providers[0][1]
    assert "trt_dla_enable" not in plain and "trt_profile_min_shapes" not in plain


def test_cache_folder_changes_with_tensorrt_onnxruntime_and_gpu() -> None:
    base = cache_subfolder("10.3.0", "1.20.0", "NVIDIA Jetson AGX Orin_sm87_16sm")
    assert "/" not in base and " " not in base
    assert len({base, cache_subfolder("10.7.0", "1.20.0", "x"), cache_subfolder("10.3.0", "1.22.0", "x")}) == 3
    assert cache_subfolder("10.3.0", "1.20.0", "Orin_sm87_8sm") != cache_subfolder("10.3.0", "1.20.0", "Orin_sm87_16sm")


def test_a_provider_onnxruntime_drops_silently_is_caught() -> None:
    asked = select_providers("tensorrt", ALL, Path("/tmp"), **IDENTITY).providers
    with pytest.raises(ValueError, match="could not start TensorrtExecutionProvider"):
        check_session_providers(asked, [CUDA, CPU], allow_fallback=False)
    assert "running on CUDAExecutionProvider" in check_session_providers(asked, [CUDA, CPU], allow_fallback=True)
    assert check_session_providers(asked, [TENSORRT, CUDA, CPU], allow_fallback=False) == ""


def test_profile_names_the_cut_network_input(repo_root: Path, tiny_onnx: Path) -> None:
    shipped = repo_root / "models" / "stdc1_camvid.onnx"
    meta = read_model_metadata(shipped)
    assert tensorrt_profile(shipped, "tensorrt", "auto") == (meta.network_input, (1, 3, 360, 480))
    assert tensorrt_profile(shipped, "tensorrt", "graph") is None  # the network input is no graph input there
    assert tensorrt_profile(shipped, "cuda", "auto") is None
    assert tensorrt_profile(tiny_onnx, "tensorrt:0", "numpy")[1] == (1, 3, 96, 128)


def test_backend_fails_or_falls_back_as_asked(tiny_onnx: Path) -> None:
    """On this CPU-only onnxruntime: device cuda fails by default; allowed, it runs on CPU and says why."""
    if CUDA in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(ValueError, match=r"no CUDAExecutionProvider.*allow_provider_fallback"):
        create_runtime("onnxruntime", tiny_onnx, device="cuda")
    with create_runtime("onnxruntime", tiny_onnx, device="cuda", allow_fallback=True) as rt:
        assert rt.providers == [CPU] and "no CUDAExecutionProvider" in rt.fallback
        assert rt.infer(np.zeros((40, 50, 3), np.uint8)).labels.shape == (40, 50)
    with create_runtime("onnxruntime", tiny_onnx) as rt:
        assert rt.fallback == ""


def test_backend_gives_tensorrt_the_cut_network_and_its_profile(
    monkeypatch: pytest.MonkeyPatch, tiny_onnx: Path, tmp_path: Path
) -> None:
    """An onnxruntime that lists TensorRT but cannot start it (no libnvinfer) drops it silently: caught."""
    asked: list = []
    real_session = ort.InferenceSession

    def session(model: object, sess_options: object = None, providers: list | None = None) -> object:
        asked.append(providers)
        return real_session(model, sess_options=sess_options, providers=[CPU])  # what ORT does without TensorRT

    monkeypatch.setattr(ort, "get_available_providers", lambda: ALL)
    monkeypatch.setattr(ort, "InferenceSession", session)
    options = {"device": "tensorrt", "trt_cache_dir": tmp_path, "precision": "int8"}
    with pytest.raises(ValueError, match="could not start TensorrtExecutionProvider"):
        create_runtime("onnxruntime", tiny_onnx, **options)
    with create_runtime("onnxruntime", tiny_onnx, allow_fallback=True, **options) as rt:
        assert rt.prepost == "numpy" and "could not start TensorrtExecutionProvider" in rt.fallback
    trt_options = asked[-1][0][1]
    network_input = read_model_metadata(tiny_onnx).network_input
    assert trt_options["trt_profile_opt_shapes"] == f"{network_input}:1x3x96x128"
    assert trt_options["trt_int8_enable"] and not trt_options["trt_fp16_enable"]
