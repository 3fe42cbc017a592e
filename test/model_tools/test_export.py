"""The exported ONNX files: one self-contained file, checker-clean, metadata, dynamic shapes, the export command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from stdc_ros.cli import main as cli_main

pytest.importorskip("torch")  # exports with torch: skipped where it is absent (a ROS install, .venv-jazzy)
from stdc_ros.runtime.conventions import ModelMetadata, read_model_metadata


def _dims(value_info) -> list:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_full_model_is_one_checked_file_with_the_documented_signature(tiny_onnx: Path) -> None:
    assert sorted(p.name for p in tiny_onnx.parent.iterdir()) == [tiny_onnx.name]  # no external data file
    model = onnx.load(str(tiny_onnx))
    onnx.checker.check_model(model, full_check=True)
    assert all(t.data_location == onnx.TensorProto.DEFAULT for t in model.graph.initializer)
    assert [op.version for op in model.opset_import if op.domain in ("", "ai.onnx")] == [18]
    (image,) = model.graph.input
    assert image.name == "image" and image.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    n, h, w, c = _dims(image)
    assert isinstance(n, str) and isinstance(h, str) and isinstance(w, str) and c == 3  # N, H, W dynamic
    outputs = {o.name: o for o in model.graph.output}
    assert outputs["labels"].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert outputs["confidence"].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert _dims(outputs["labels"]) == [n, h, w]
    meta = read_model_metadata(tiny_onnx)
    assert meta == ModelMetadata(
        format="full",
        input_size=(96, 128),
        num_classes=11,
        variant="stdc1",
        label_set="camvid",
        network_input=meta.network_input,
        network_output=meta.network_output,
    )
    assert meta.network_input and meta.network_output
    props = {p.key: p.value for p in model.metadata_props}
    assert props["stdc_ros.input_size"] == "96x128" and props["stdc_ros.mean"] == "0.485,0.456,0.406"


def test_full_model_takes_batches_and_any_size(tiny_onnx: Path) -> None:
    session = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (3, 61, 77, 3), dtype=np.uint8)
    labels, confidence = session.run(None, {"image": batch})
    assert labels.shape == (3, 61, 77) and labels.dtype == np.uint8 and confidence.shape == (3, 61, 77)
    single = session.run(["labels"], {"image": batch[1:2]})[0]
    np.testing.assert_array_equal(single[0], labels[1])  # batch items are independent


def test_raw_model_signature(tiny_raw_onnx: Path) -> None:
    model = onnx.load(str(tiny_raw_onnx))
    onnx.checker.check_model(model, full_check=True)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "input" and inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert isinstance(_dims(inp)[0], str) and _dims(inp)[1:] == [3, 96, 128]  # batch dynamic, size fixed
    assert out.name == "logits" and _dims(out)[1:] == [11, 96, 128]
    assert read_model_metadata(tiny_raw_onnx).format == "raw"


@pytest.mark.slow
def test_half_raw_export_for_strongly_typed_tensorrt(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from stdc_ros.model_tools.export import export_onnx
    from stdc_ros.network import load_checkpoint_model

    network = load_checkpoint_model(tiny_checkpoint)
    path = export_onnx(network, tmp_path / "h.onnx", (64, 96), embed_pre_post=False, half=True)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 I/O
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    weights = [t for t in model.graph.initializer if len(t.dims) == 4]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    assert read_model_metadata(path).precision == "fp16"
    with pytest.raises(ValueError, match="raw"):
        export_onnx(load_checkpoint_model(tiny_checkpoint), tmp_path / "x.onnx", (64, 96), half=True)


@pytest.mark.slow
def test_export_command_checks_against_torch_on_camvid(
    tiny_checkpoint: Path, camvid_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "exported.onnx"
    rc = cli_main(
        ["export", str(tiny_checkpoint), "-o", str(out), "--camvid-root", str(camvid_root), "--check-frames", "2"]
    )
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "onnx.checker passed" in printed and "check against torch on 2 CamVid test frames" in printed
    meta = read_model_metadata(out)
    assert (meta.format, meta.input_size, meta.label_set) == ("full", (96, 128), "camvid")  # from the checkpoint


def test_onnxruntime_path_does_not_import_torch(tiny_onnx: Path) -> None:
    """The node's default path must work where torch is not installed."""
    code = (
        "import sys, json, numpy as np\n"
        "from stdc_ros.runtime import create_runtime, available_backends\n"
        f"rt = create_runtime('onnxruntime', {str(tiny_onnx)!r})\n"
        "seg = rt.infer(np.zeros((40, 50, 3), np.uint8), confidence=True)\n"
        "print(json.dumps([seg.labels.shape, 'torch' in sys.modules, 'tensorrt' in sys.modules, rt.prepost]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    shape, torch_loaded, trt_loaded, prepost = json.loads(result.stdout.strip().splitlines()[-1])
    assert shape == [40, 50] and not torch_loaded and not trt_loaded and prepost == "numpy"
