"""`precision` and the packaged model: auto = INT8 for ONNX Runtime on a CPU with int8 dot-product instructions (FP32
on one without), FP16 with TensorRT, else FP32."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stdc_ros.labels import load_label_set
from stdc_ros.node.model_choice import (
    FP32_MODEL,
    INT8_MODEL,
    PRECISIONS,
    effective_precision,
    packaged_model,
    resolve_precision,
)
from stdc_ros.node.parameters import NODE_PARAMETERS, build_config, default_values
from stdc_ros.runtime.conventions import read_model_metadata


@pytest.mark.parametrize(
    ("backend", "device", "expected"),
    [
        ("onnxruntime", "cpu", "int8"),
        ("onnxruntime", "CPU", "int8"),
        ("onnxruntime", "cuda", "fp32"),
        ("onnxruntime", "cuda:1", "fp32"),
        ("onnxruntime", "tensorrt", "fp16"),
        ("onnxruntime", "tensorrt:1", "fp16"),
        ("tensorrt", "cuda", "fp16"),
        ("tensorrt", "cuda:0", "fp16"),
        ("torch", "cpu", "fp32"),
        ("torch", "cuda", "fp32"),
    ],
)
def test_auto_resolves_by_backend_and_device(backend: str, device: str, expected: str) -> None:
    assert effective_precision(backend, device, int8_dot_product=True) == expected
    assert resolve_precision("auto", backend, device, int8_dot_product=True) == expected
    assert resolve_precision("fp32", backend, device, int8_dot_product=True) == "fp32"  # an explicit choice wins


@pytest.mark.parametrize(("backend", "device"), [("onnxruntime", "cpu"), ("torch", "cpu"), ("tensorrt", "cuda")])
def test_auto_keeps_fp32_on_a_cpu_without_int8_dot_product(backend: str, device: str) -> None:
    with_dot = effective_precision(backend, device, int8_dot_product=True)
    without = effective_precision(backend, device, int8_dot_product=False)
    assert without == ("fp32" if with_dot == "int8" else with_dot)  # only the CPU int8 choice depends on the CPU
    assert resolve_precision("int8", backend, device, int8_dot_product=False) == "int8"  # asked for: given


@pytest.mark.parametrize(
    ("flags", "dot"),
    [
        ("fpu avx avx2 fma", False),  # AMD EPYC family 25 (Zen 3): int8 ran slower than fp32 there
        ("avx2 fma avx512f avx512bw", False),  # Skylake-SP: 16-bit multiply-adds only
        ("avx2 fma avx512f avx512bw avx512_vnni", True),
        ("avx2 fma avx_vnni", True),
        ("amx_tile amx_int8", True),
        ("fp asimd asimddp", True),  # Jetson Orin's Cortex-A78AE
        ("fp asimd", False),
        ("", False),  # /proc/cpuinfo unreadable: the safe choice
    ],
)
def test_int8_dot_product_from_cpu_flags(flags: str, dot: bool) -> None:
    from stdc_ros.machine import parse_cpuinfo

    cpu = parse_cpuinfo(f"processor : 0\nmodel name : test\nflags : {flags}\n")
    assert cpu.int8_dot_product is dot


def test_the_log_says_why_auto_chose() -> None:
    from stdc_ros.machine import parse_cpuinfo
    from stdc_ros.node.model_choice import auto_precision_reason

    def cpu(flags: str) -> Any:
        return parse_cpuinfo(f"processor : 0\nmodel name : test\nflags : {flags}\n")

    vnni = auto_precision_reason("onnxruntime", "cpu", cpu("avx2 fma avx512f avx512bw avx512_vnni"))
    assert vnni == "precision auto -> int8: this CPU has int8 dot products (AVX-512 VNNI)"
    avx2 = auto_precision_reason("onnxruntime", "cpu", cpu("avx2 fma"))
    assert avx2.startswith("precision auto -> fp32: this CPU has no int8 dot-product instructions") and "AVX2" in avx2
    assert auto_precision_reason("tensorrt", "cuda") == "precision auto -> fp16 for tensorrt on cuda"


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("int4", "onnxruntime", "cpu")


def test_precision_parameter_choices_and_default() -> None:
    spec = next(s for s in NODE_PARAMETERS if s.name == "precision")
    assert spec.choices == PRECISIONS == ("auto", "fp32", "fp16", "int8") and spec.read_only
    values = default_values(load_label_set("camvid"))
    assert build_config(values).precision == "auto"
    with pytest.raises(ValueError, match="precision"):
        build_config({**values, "precision": "int4"})


def test_node_default_runs_the_packaged_int8_model_on_cpu_and_fp32_is_one_parameter_away() -> None:
    from stdc_ros.node.segmentation_node import resolve_model_path

    values = default_values(load_label_set("camvid"))

    def chosen(**changes: object) -> Path:
        config = build_config({**values, **changes})
        precision = resolve_precision(config.precision, config.backend, config.device, int8_dot_product=True)
        return resolve_model_path(config.model_path, precision)

    default = chosen()
    assert default.name == Path(INT8_MODEL).name and read_model_metadata(default).precision == "int8"
    fp32 = chosen(precision="fp32")
    assert fp32.name == Path(FP32_MODEL).name and read_model_metadata(fp32).precision == "fp32"
    assert chosen(device="cuda").name == Path(FP32_MODEL).name  # auto on CUDA: FP32
    assert chosen(backend="tensorrt", device="cuda").name == Path(FP32_MODEL).name  # FP16 engines from FP32
    assert chosen(model_path=str(fp32)) == fp32  # an explicit model_path is used whatever the precision
    assert packaged_model("fp16") == FP32_MODEL and packaged_model("int8") == INT8_MODEL


def test_params_file_and_docs_say_auto(repo_root: Path) -> None:
    import yaml

    params = yaml.safe_load((repo_root / "config" / "stdc_ros.yaml").read_text())
    assert params["/**"]["ros__parameters"]["precision"] == "auto"
    assert "| `precision` | `auto` |" in (repo_root / "docs" / "node.md").read_text()


def test_real_node_on_cpu_loads_the_model_auto_picks_for_this_cpu_and_either_on_request(ros: Any) -> None:
    from stdc_ros.node.model_choice import cpu_has_int8_dot_product

    loaded = {}
    for precision in ("auto", "int8", "fp32"):
        name = f"seg_precision_{precision}_{ros.domain_id}"
        node = ros.start_node(name, {"autostart": True, "precision": precision})
        assert node.state == "active"
        loaded[precision] = node._runtime.describe()
    assert "stdc1_camvid_int8.onnx" in loaded["int8"] and "int8" in loaded["int8"]
    assert "stdc1_camvid.onnx" in loaded["fp32"] and "int8" not in loaded["fp32"]
    assert loaded["auto"] == loaded["int8" if cpu_has_int8_dot_product() else "fp32"]
