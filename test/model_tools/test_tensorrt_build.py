"""TensorRT engine builder: build plans, cache keys, the network an engine is built from (cut, float16, Q/DQ
checks), and the ``build-engine`` command, through fake ``tensorrt`` modules with the 10.x and 11.x API faces.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from stdc_ros.errors import ModelFileError
from stdc_ros.model_tools.tensorrt_build import (
    QUANTIZE_COMMAND,
    make_engine_key,
    network_recipe,
    plan_build,
    prepare_network,
)
from stdc_ros.runtime.conventions import read_model_metadata
from stdc_ros.runtime.cuda_api import GpuInfo
from stdc_ros.runtime.tensorrt_support import BuildConfig, TensorRTFeatures

from .. import fake_tensorrt
from ..tensorrt_helpers import GPU, TRT10, TRT11, agreement, labels_of, needs_fp16_converter


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
