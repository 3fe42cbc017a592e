"""Training precision: bf16 autocast on CPUs that do bf16 in hardware, fp16 AMP on CUDA, float32 elsewhere.

``train.precision`` is ``auto`` (the default), ``fp32``, ``bf16`` or ``fp16``. ``auto`` resolves per device:
CUDA -> fp16 (with a GradScaler, as before), a CPU with AVX-512 BF16 or AMX-BF16 -> bf16 (no scaler needed:
bf16 has float32's exponent range), any other CPU -> fp32 (autocast to bf16 would be emulated there, slower
than float32). Only the network's forward runs under autocast; the losses are computed in float32.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

log = logging.getLogger("training")

CHOICES = ("auto", "fp32", "bf16", "fp16")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs with bf16 arithmetic in hardware
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cpuinfo_flags(text: str) -> set[str]:
    """The feature flags of the first processor in a /proc/cpuinfo text (empty if none listed)."""
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_bf16_support(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[bool, str]:
    """Whether this CPU does bf16 in hardware and oneDNN can use it, with the evidence in words."""
    try:
        flags = cpuinfo_flags(cpuinfo.read_text())
    except OSError:
        flags = set()
    found = sorted(flags & set(BF16_FLAGS))
    if not flags:  # no /proc/cpuinfo (not Linux): ask torch's own CPU feature checks
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        found = [flag for flag, check in zip(BF16_FLAGS, checks) if getattr(torch.cpu, check, lambda: False)()]
    if not found:
        return False, f"no {' or '.join(BF16_FLAGS)} on this CPU"
    if not torch.backends.mkldnn.is_available():
        return False, f"{', '.join(found)} present but this torch has no oneDNN"
    return True, f"{', '.join(found)} present, torch CPU capability {torch.backends.cpu.get_cpu_capability()}"


@dataclass(frozen=True)
class Precision:
    """The resolved precision of a run: ``name`` in fp32/bf16/fp16 and why it was chosen."""

    name: str
    device_type: str
    reason: str

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return DTYPES.get(self.name)

    @property
    def needs_scaler(self) -> bool:
        """fp16 gradients underflow without loss scaling; bf16 and fp32 need none."""
        return self.name == "fp16"

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.autocast_dtype)


def resolve_precision(requested: str, device_type: str, bf16: tuple[bool, str] | None = None) -> Precision:
    """``train.precision`` for a device ("cpu" or "cuda"); ``bf16`` is the CPU's (support, evidence)."""
    if requested not in CHOICES:
        raise ValueError(f"train.precision must be one of {', '.join(CHOICES)}, got {requested!r}")
    if device_type == "cuda":
        if requested == "auto":
            return Precision("fp16", "cuda", "CUDA: fp16 autocast with loss scaling")
        return Precision(requested, "cuda", "asked for")
    supported, evidence = bf16 if bf16 is not None else cpu_bf16_support()
    if requested == "fp16":
        raise ValueError("train.precision fp16 needs CUDA; on a CPU use bf16 (where supported) or fp32")
    if requested == "bf16" and not supported:
        raise ValueError(f"train.precision bf16 asked for, but {evidence}: use auto or fp32")
    if requested == "auto":
        return Precision("bf16" if supported else "fp32", "cpu", evidence)
    return Precision(requested, "cpu", f"asked for ({evidence})")
