"""The machine the figures were measured on: the CPU model name and the vector instructions that bound its arithmetic.

Read from ``/proc/cpuinfo`` (``flags`` on x86, ``Features`` on ARM), with ``lscpu`` for the model name where
cpuinfo has none. The ISA decides which peak applies: float32 runs on FMA units (AVX2 or AVX-512F), int8 on dot
product instructions (AVX-512 VNNI / AVX-VNNI, AMX tiles on newer Xeons), bfloat16 on AVX-512 BF16 or AMX.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# (cpuinfo flag, name), in the order they are printed; only instructions that change a kernel's throughput.
ISA_FLAGS: tuple[tuple[str, str], ...] = (
    ("avx2", "AVX2"),
    ("fma", "FMA"),
    ("avx512f", "AVX-512F"),
    ("avx512bw", "AVX-512BW"),
    ("avx512_vnni", "AVX-512 VNNI"),
    ("avx_vnni", "AVX-VNNI"),
    ("avx512_bf16", "AVX-512 BF16"),
    ("avx512_fp16", "AVX-512 FP16"),
    ("amx_tile", "AMX"),
    ("amx_bf16", "AMX-BF16"),
    ("amx_int8", "AMX-INT8"),
    ("asimd", "NEON"),
    ("asimddp", "NEON dot product"),
    ("sve", "SVE"),
    ("i8mm", "I8MM"),
    ("bf16", "BF16"),
)
INT8_DOT_FLAGS = frozenset({"amx_int8", "avx512_vnni", "avx_vnni", "i8mm", "asimddp"})


@dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: frozenset[str]
    logical_cpus: int
    family_model: str = ""  # x86 'family 26 model 2': tells CPU generations apart when the name is generic

    @property
    def isa(self) -> list[str]:
        """Names of the vector instruction sets present, in ``ISA_FLAGS`` order."""
        return [name for flag, name in ISA_FLAGS if flag in self.flags]

    @property
    def fp32_isa(self) -> str:
        """The widest float32 multiply-add the kernels can use."""
        if "avx512f" in self.flags:
            return "AVX-512F"
        if "avx2" in self.flags and "fma" in self.flags:
            return "AVX2 + FMA"
        if "avx" in self.flags:
            return "AVX (no FMA)"
        if "asimd" in self.flags:
            return "NEON"
        return "SSE or scalar"

    @property
    def int8_isa(self) -> str:
        """The int8 dot-product instructions an int8 GEMM can use (without them int8 is emulated in 16 bits)."""
        if "amx_int8" in self.flags:
            return "AMX-INT8"
        if "avx512_vnni" in self.flags:
            return "AVX-512 VNNI"
        if "avx_vnni" in self.flags:
            return "AVX-VNNI"
        if "i8mm" in self.flags:
            return "I8MM"
        if "asimddp" in self.flags:
            return "NEON dot product"
        if "avx512bw" in self.flags:
            return "AVX-512BW (no VNNI: 16-bit multiply-adds)"
        if "avx2" in self.flags:
            return "AVX2 (no VNNI: 16-bit multiply-adds)"
        return "none"

    @property
    def int8_dot_product(self) -> bool:
        """Whether int8 GEMMs get dot-product instructions; without them ONNX Runtime's int8 model ran slower than
        float32 here (AMD EPYC family 25, AVX2: 136 against 111 ms at 360x480, 2 threads; docs/performance.md)."""
        return bool(self.flags & INT8_DOT_FLAGS)

    @property
    def bf16_isa(self) -> str:
        for flag, name in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX-512 BF16"), ("bf16", "BF16")):
            if flag in self.flags:
                return name
        return "none"

    @property
    def name(self) -> str:
        return f"{self.model} ({self.family_model})" if self.family_model else self.model

    def summary(self) -> str:
        """One line naming the CPU, e.g. 'AMD EPYC, 2 logical CPUs; fp32 AVX-512F, int8 AVX-512 VNNI, ...'."""
        isa = ", ".join(self.isa) or "no AVX2/AVX-512/NEON"
        return (
            f"{self.name}, {self.logical_cpus} logical CPUs; fp32 on {self.fp32_isa}, int8 on {self.int8_isa}, "
            f"bf16 on {self.bf16_isa} (flags: {isa})"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "family_model": self.family_model,
            "logical_cpus": self.logical_cpus,
            "isa": self.isa,
            "fp32_isa": self.fp32_isa,
            "int8_isa": self.int8_isa,
            "bf16_isa": self.bf16_isa,
        }


def parse_cpuinfo(text: str, lscpu_model: str | None = None) -> CpuInfo:
    """A ``/proc/cpuinfo`` text: the first processor's flags and model, and how many processors it lists."""
    model = ""
    flags: frozenset[str] | None = None
    processors = 0
    ids: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "processor":
            processors += 1
        elif key in ("model name", "hardware", "cpu model") and not model:
            model = value
        elif key in ("flags", "features") and flags is None:
            flags = frozenset(value.lower().split())
        elif key in ("cpu family", "model") and key not in ids:
            ids[key] = value
    model = model or lscpu_model or platform.processor() or "unknown CPU"
    family_model = f"family {ids['cpu family']} model {ids['model']}" if len(ids) == 2 else ""
    return CpuInfo(model, flags or frozenset(), processors or (os.cpu_count() or 1), family_model)


@cache
def cpu_has_int8_dot_product() -> bool:
    """This machine's CPU has int8 dot-product instructions (read once: the CPU does not change under a process)."""
    return read_cpu_info().int8_dot_product


def lscpu_model_name() -> str | None:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        if line.lower().startswith("model name:"):
            return line.split(":", 1)[1].strip()
    return None


def read_cpu_info(path: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    """This machine's CPU (an empty flag set where /proc/cpuinfo cannot be read, e.g. on macOS)."""
    try:
        text = path.read_text()
    except OSError:
        text = ""
    has_model = any(line.lower().startswith(("model name", "hardware")) for line in text.splitlines())
    return parse_cpuinfo(text, None if has_model else lscpu_model_name())


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (what training and the benchmarks print as the hardware)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def openvino_version() -> str | None:
    """The installed OpenVINO's version, None when it is not installed."""
    try:
        import openvino
    except ImportError:
        return None
    return str(openvino.__version__).split("-")[0]  # '2026.4.1' of '2026.4.1-22982-e213a14-releases/...'


def machine_info() -> dict[str, object]:
    """What the figures depend on: processor, core count, load, library versions."""
    import onnxruntime

    info: dict[str, object] = {
        "platform": platform.platform(),
        "processor": cpu_name(),
        "cpus": os.cpu_count(),
        "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "cpu": read_cpu_info().as_dict(),  # name and vector ISA: the figures depend on both
    }
    if openvino_version():
        info["openvino"] = openvino_version()
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name()
    except ImportError:
        pass
    return info
