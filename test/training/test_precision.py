"""Training precision: bf16 where the CPU has it, fp16 with loss scaling on CUDA, float32 elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.precision import cpu_bf16_support, cpuinfo_flags, resolve_precision
from training.train import Throughput

ZEN4 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
OLD = "processor\t: 0\nflags\t\t: fpu sse2 avx2\n"


def test_bf16_support_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    assert cpuinfo_flags(ZEN4) >= {"avx512_bf16", "avx2"} and cpuinfo_flags("nothing") == set()
    (tmp_path / "zen4").write_text(ZEN4)
    (tmp_path / "old").write_text(OLD)
    supported, why = cpu_bf16_support(tmp_path / "zen4")
    assert supported == torch.backends.mkldnn.is_available() and "avx512_bf16" in why
    assert cpu_bf16_support(tmp_path / "old") == (False, "no avx512_bf16 or amx_bf16 on this CPU")


def test_auto_resolves_per_device() -> None:
    yes, no = (True, "avx512_bf16 present"), (False, "no avx512_bf16 or amx_bf16 on this CPU")
    assert resolve_precision("auto", "cpu", yes).name == "bf16"
    assert resolve_precision("auto", "cpu", no).name == "fp32"
    cuda = resolve_precision("auto", "cuda")
    assert cuda.name == "fp16" and cuda.needs_scaler
    assert not resolve_precision("auto", "cpu", yes).needs_scaler  # bf16 keeps float32's exponent range
    assert resolve_precision("fp32", "cpu", yes).autocast_dtype is None
    with pytest.raises(ValueError, match="bf16 asked for, but no avx512_bf16"):
        resolve_precision("bf16", "cpu", no)
    with pytest.raises(ValueError, match="fp16 needs CUDA"):
        resolve_precision("fp16", "cpu", yes)
    with pytest.raises(ValueError, match="must be one of"):
        resolve_precision("int8", "cpu", yes)


def test_bf16_autocast_runs_the_convolutions_in_bf16() -> None:
    conv = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    x = torch.randn(1, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    with resolve_precision("auto", "cpu", (True, "test")).autocast():
        assert conv(x).dtype == torch.bfloat16
    with resolve_precision("auto", "cpu", (False, "test")).autocast():
        assert conv(x).dtype == torch.float32


def test_throughput_summary() -> None:
    rate = Throughput(images_per_step=8)
    rate.add(wait=0.1, total=0.5)
    rate.add(wait=0.0, total=0.5)
    assert rate.summary() == pytest.approx({"steps_per_s": 2.0, "images_per_s": 16.0, "loader_wait": 0.1})
    rate.reset()
    assert all(v != v for v in rate.summary().values())  # NaN until a step is timed
