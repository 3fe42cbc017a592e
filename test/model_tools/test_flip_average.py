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
    from stdc_ros.model_tools.export import export_onnx
    from stdc_ros.network import load_checkpoint_model

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
    tiny_checkpoint: Path, tiny_flip_onnx: Path, camvid_root: Path
) -> None:
    from stdc_ros.model_tools.export import check_against_torch
    from stdc_ros.runtime import create_runtime

    path = tiny_flip_onnx
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


@pytest.mark.slow
def test_dropping_the_mirror_pass_gives_the_single_pass_model(
    tiny_checkpoint: Path, tiny_onnx: Path, tiny_flip_onnx: Path, tiny_raw_onnx: Path, tmp_path: Path
) -> None:
    import onnx

    from stdc_ros.model_tools.export import export_onnx
    from stdc_ros.network import load_checkpoint_model
    from stdc_ros.runtime import create_runtime
    from stdc_ros.runtime.network_cut import drop_mirror_pass

    flipped, plain = tiny_flip_onnx, tiny_onnx
    image = np.random.default_rng(1).integers(0, 256, (2, 120, 160, 3), dtype=np.uint8)

    # the whole graph: the same labels and confidences as the single-pass export of the same weights
    single = drop_mirror_pass(onnx.load(str(flipped)))
    props = {p.key: p.value for p in single.metadata_props}
    assert props["stdc_ros.flip_average"] == "false" and props["stdc_ros.format"] == "full"
    convs = [n for n in single.graph.node if n.op_type == "Conv"]
    assert 2 * len(convs) == sum(n.op_type == "Conv" for n in onnx.load(str(flipped)).graph.node)

    def run(model_bytes: bytes) -> list[np.ndarray]:
        return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"]).run(None, {"image": image})

    got, want = run(single.SerializeToString()), run(plain.read_bytes())
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], atol=1e-5)

    # a raw graph keeps its `logits` output name
    model = load_checkpoint_model(tiny_checkpoint)
    raw_flipped = export_onnx(model, tmp_path / "rf.onnx", (96, 128), embed_pre_post=False, flip_average=True)
    raw_single = tmp_path / "rs.onnx"
    onnx.save(drop_mirror_pass(onnx.load(str(raw_flipped))), str(raw_single))
    x = np.random.default_rng(2).standard_normal((1, 3, 96, 128)).astype(np.float32)
    np.testing.assert_allclose(_logits(raw_single, x), _logits(tiny_raw_onnx, x), atol=1e-4)

    # the runtime option, both pre/post modes; a single-pass model is left as it is
    for prepost in ("numpy", "graph"):
        with (
            create_runtime("onnxruntime", flipped, prepost=prepost, test_time_flip=False) as cut,
            create_runtime("onnxruntime", plain, prepost=prepost) as reference,
            create_runtime("onnxruntime", plain, prepost=prepost, test_time_flip=False) as untouched,
        ):
            assert not cut.meta.flip_average and "flip-averaged" not in cut.describe()
            for frame in image:
                labels = reference.infer(frame).labels
                np.testing.assert_array_equal(cut.infer(frame).labels, labels)
                np.testing.assert_array_equal(untouched.infer(frame).labels, labels)
    with pytest.raises(ValueError, match="not flip-averaged"):
        drop_mirror_pass(onnx.load(str(plain)))


def test_a_mislabelled_flip_model_gets_a_clear_error(tiny_raw_onnx: Path, tmp_path: Path) -> None:
    import onnx

    from stdc_ros.errors import ModelFileError
    from stdc_ros.runtime import create_runtime

    proto = onnx.load(str(tiny_raw_onnx))
    for prop in proto.metadata_props:
        if prop.key == "stdc_ros.flip_average":
            prop.value = "true"  # tagged flip-averaged, but a single pass: there is no mirrored pass to remove
    path = tmp_path / "tagged.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(ModelFileError, match="cannot remove the test-time flip"):
        create_runtime("onnxruntime", path, test_time_flip=False)
