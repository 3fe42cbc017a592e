"""Test-time flip inside the exported graph (`--flip-average`): mirror-symmetric, tagged, agrees with torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from stdc_ros.runtime.conventions import read_model_metadata


def _logits(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


@pytest.mark.slow
def test_flip_averaged_network_is_mirror_symmetric(tiny_checkpoint: Path, tiny_raw_onnx: Path, tmp_path: Path) -> None:
    from stdc_ros.network import load_checkpoint_model
    from stdc_ros.runtime.export import export_onnx

    path = export_onnx(
        load_checkpoint_model(tiny_checkpoint), tmp_path / "f.onnx", (96, 128), embed_pre_post=False, flip_average=True
    )
    assert read_model_metadata(path).flip_average and not read_model_metadata(tiny_raw_onnx).flip_average
    x = np.random.default_rng(0).standard_normal((2, 3, 96, 128)).astype(np.float32)
    mirrored = np.ascontiguousarray(x[..., ::-1])
    averaged = _logits(path, x)
    np.testing.assert_allclose(_logits(path, mirrored), averaged[..., ::-1], atol=1e-4)
    plain = _logits(tiny_raw_onnx, x)
    assert np.abs(_logits(tiny_raw_onnx, mirrored) - plain[..., ::-1]).max() > 1e-2  # one pass is not symmetric
    # and the average really is of the two passes
    np.testing.assert_allclose(averaged, 0.5 * (plain + _logits(tiny_raw_onnx, mirrored)[..., ::-1]), atol=1e-4)


@pytest.mark.slow
def test_flip_averaged_full_graph_agrees_with_the_torch_reference(
    tiny_checkpoint: Path, camvid_root: Path, tmp_path: Path
) -> None:
    from stdc_ros.network import load_checkpoint_model
    from stdc_ros.runtime import create_runtime
    from stdc_ros.runtime.export import check_against_torch, export_onnx

    path = export_onnx(load_checkpoint_model(tiny_checkpoint), tmp_path / "f.onnx", (96, 128), flip_average=True)
    meta = read_model_metadata(path)
    assert meta.flip_average and meta.network_input and meta.network_output  # the network was still cut out
    with create_runtime("onnxruntime", path) as runtime:
        assert runtime.prepost == "numpy"  # runs the cut-out (flip-averaged) network with numpy pre/post
        assert "flip-averaged" in runtime.describe()  # what the node logs when it configures
    report = check_against_torch(tiny_checkpoint, path, (96, 128), camvid_root, 2, flip_average=True)
    assert report.confident >= 0.999, report.summary()
    # without the flip the torch reference is a different model: the check must notice
    unflipped = check_against_torch(tiny_checkpoint, path, (96, 128), camvid_root, 2)
    assert unflipped.overall < report.overall


def test_metadata_flag_is_strict(tmp_path: Path) -> None:
    from stdc_ros.errors import ModelFileError
    from stdc_ros.runtime.conventions import ModelMetadata

    props = ModelMetadata(format="raw", input_size=(8, 8), num_classes=2, flip_average=True).to_props()
    assert props["stdc_ros.flip_average"] == "true"
    assert ModelMetadata.from_props(props, tmp_path / "m.onnx").flip_average
    with pytest.raises(ModelFileError, match="flip_average"):
        ModelMetadata.from_props({**props, "stdc_ros.flip_average": "yes"}, tmp_path / "m.onnx")
