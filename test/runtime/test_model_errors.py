"""A missing, corrupt or mismatched model file gives ModelFileError naming the file; bad calls give ValueError."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from stdc_ros.errors import ModelFileError
from stdc_ros.runtime import BACKENDS, available_backends, create_runtime
from stdc_ros.runtime.tensorrt_backend import TensorRTSegmentation

ORT_MODES = ("graph", "numpy")


def test_unknown_backend_lists_the_choices(tiny_onnx: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown backend 'openvino'.*onnxruntime, tensorrt, torch"):
        create_runtime("openvino", tiny_onnx)


def test_available_backends_here() -> None:
    found = available_backends()
    expected = {"onnxruntime", "torch"} if importlib.util.find_spec("torch") else {"onnxruntime"}  # .venv-jazzy
    assert expected <= set(found) <= set(BACKENDS)


@pytest.mark.parametrize("prepost", ORT_MODES)
def test_missing_onnx(tmp_path: Path, prepost: str) -> None:
    path = tmp_path / "nowhere.onnx"
    with pytest.raises(ModelFileError, match=r"nowhere\.onnx"):
        create_runtime("onnxruntime", path, prepost=prepost)


@pytest.mark.parametrize("prepost", ORT_MODES)
@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_onnx(tiny_onnx: Path, tmp_path: Path, damage: str, prepost: str) -> None:
    path = tmp_path / f"{damage}.onnx"
    data = tiny_onnx.read_bytes()
    contents = {"garbage": b"\x00\x01not a model" * 100, "truncated": data[: len(data) // 3], "empty": b""}
    path.write_bytes(contents[damage])
    with pytest.raises(ModelFileError, match=rf"{damage}\.onnx") as refused:
        create_runtime("onnxruntime", path, prepost=prepost)
    if damage == "empty":
        assert "is empty (0 bytes)" in str(refused.value)


def _copy_with_metadata(source: Path, target: Path, **changes: str | None) -> Path:
    model = onnx.load(str(source))
    props = {p.key: p.value for p in model.metadata_props}
    for key, value in changes.items():
        props.pop(f"stdc_ros.{key}", None)
        if value is not None:
            props[f"stdc_ros.{key}"] = value
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(target))
    return target


@pytest.mark.parametrize("prepost", ORT_MODES)
def test_onnx_without_our_metadata(tiny_onnx: Path, tmp_path: Path, prepost: str) -> None:
    path = _copy_with_metadata(tiny_onnx, tmp_path / "foreign.onnx", format=None)
    with pytest.raises(ModelFileError, match=r"foreign.onnx has no stdc_ros metadata"):
        create_runtime("onnxruntime", path, prepost=prepost)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "banana"}, "unknown format"),
        ({"input_size": "96"}, "HEIGHTxWIDTH"),
        ({"num_classes": "300"}, "num_classes"),
        ({"std": "0.2,0,0.2"}, "std"),
    ],
)
def test_malformed_metadata(tiny_onnx: Path, tmp_path: Path, changes: dict, message: str) -> None:
    path = _copy_with_metadata(tiny_onnx, tmp_path / "bad_meta.onnx", **changes)
    with pytest.raises(ModelFileError, match=rf"bad_meta.onnx.*{message}"):
        create_runtime("onnxruntime", path)


def test_metadata_that_contradicts_the_graph(tiny_onnx: Path, tiny_raw_onnx: Path, tmp_path: Path) -> None:
    # a raw model whose metadata claims another network size
    path = _copy_with_metadata(tiny_raw_onnx, tmp_path / "lying.onnx", input_size="360x480")
    with pytest.raises(ModelFileError, match=r"lying.onnx does not follow.*input shape"):
        create_runtime("onnxruntime", path)
    # a full model labelled raw
    path = _copy_with_metadata(tiny_onnx, tmp_path / "mislabelled.onnx", format="raw")
    with pytest.raises(ModelFileError, match=r"mislabelled\.onnx does not follow"):
        create_runtime("onnxruntime", path)


@pytest.mark.parametrize("prepost", ORT_MODES)
def test_input_size_mismatch(tiny_onnx: Path, prepost: str) -> None:
    with pytest.raises(ModelFileError, match=re.escape(tiny_onnx.name) + r" was exported for 96x128 but 360x480"):
        create_runtime("onnxruntime", tiny_onnx, input_size=(360, 480), prepost=prepost)
    with create_runtime("onnxruntime", tiny_onnx, input_size=(96, 128), prepost=prepost) as rt:
        assert rt.input_size == (96, 128)


def test_torch_backend_model_errors(tiny_onnx: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    with pytest.raises(ModelFileError, match=r"missing\.pt"):
        create_runtime("torch", tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    with pytest.raises(ModelFileError, match=r"garbage\.pt"):
        create_runtime("torch", garbage)
    with pytest.raises(ModelFileError, match=r"needs a \.pt checkpoint.*stdc1_random.onnx"):
        create_runtime("torch", tiny_onnx)


def test_torch_backend_mismatched_checkpoint(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")

    from stdc_ros.network import build_stdc
    from stdc_ros.network.checkpoint import FORMAT

    state = build_stdc("stdc1", 11).state_dict()
    path = tmp_path / "claims_stdc2.pt"
    torch.save({"format": FORMAT, "variant": "stdc2", "num_classes": 11, "model": state, "meta": {}}, path)
    with pytest.raises(ModelFileError, match=r"claims_stdc2\.pt"):
        create_runtime("torch", path)


def test_tensorrt_backend_checks_the_model_before_needing_tensorrt(tiny_onnx: Path, tmp_path: Path) -> None:
    """Model problems are reported as such even on machines without TensorRT (like this one)."""
    with pytest.raises(ModelFileError, match=r"missing\.onnx"):
        TensorRTSegmentation(tmp_path / "missing.onnx")
    with pytest.raises(ModelFileError, match=r"exported for 96x128, not 720x960"):
        TensorRTSegmentation(tiny_onnx, input_size=(720, 960))  # a full model is taken; its size is checked first
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"junk")
    with pytest.raises(ModelFileError, match=r"bad\.onnx"):
        TensorRTSegmentation(bad)
    with pytest.raises(ModelFileError, match=r"engine not found.*missing\.engine"):
        TensorRTSegmentation(tmp_path / "missing.engine")


def test_tensorrt_input_size_mismatch(tiny_raw_onnx: Path) -> None:
    with pytest.raises(ModelFileError, match="exported for 96x128, not 720x960"):
        TensorRTSegmentation(tiny_raw_onnx, input_size=(720, 960))


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((40, 50), np.uint8),  # grey
        np.zeros((40, 50, 4), np.uint8),  # RGBA
        np.zeros((40, 50, 3), np.float32),  # float
        np.zeros((0, 50, 3), np.uint8),  # empty
    ],
)
def test_bad_images_are_rejected(tiny_onnx: Path, image: np.ndarray) -> None:
    with create_runtime("onnxruntime", tiny_onnx) as rt, pytest.raises(ValueError, match="image"):
        rt.infer(image)


def test_bad_channel_order_is_rejected(tiny_onnx: Path) -> None:
    image = np.zeros((40, 50, 3), np.uint8)
    for prepost in ORT_MODES:
        with create_runtime("onnxruntime", tiny_onnx, prepost=prepost) as rt, pytest.raises(ValueError, match="bgr"):
            rt.infer(image, channel_order="yuv")  # type: ignore[arg-type]


def test_non_contiguous_images_are_accepted(tiny_onnx: Path) -> None:
    """A cropped view or a message buffer with row padding is not C-contiguous."""
    big = np.random.default_rng(1).integers(0, 256, (80, 120, 3), dtype=np.uint8)
    view = big[10:70, 20:110]
    with create_runtime("onnxruntime", tiny_onnx) as rt:
        np.testing.assert_array_equal(rt.infer(view).labels, rt.infer(np.ascontiguousarray(view)).labels)


def test_unknown_onnxruntime_device_and_mode(tiny_onnx: Path) -> None:
    with pytest.raises(ValueError, match="device"):
        create_runtime("onnxruntime", tiny_onnx, device="tpu")
    with pytest.raises(ValueError, match="prepost"):
        create_runtime("onnxruntime", tiny_onnx, prepost="sometimes")
