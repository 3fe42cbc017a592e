"""Speed of an INT8 model against its FP32 source, interleaved call by call so the ratio holds on a busy machine.

Both models run through the onnxruntime backend exactly as the node runs them (CPU provider, network cut out,
pre/post-processing in numpy). Per thread count the two sessions alternate: one FP32 call, one INT8 call, and
so on; medians of each. Timed: the pure network call and the whole ``infer`` on a real-sized frame.
"""

from __future__ import annotations

import logging
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# ONNX Runtime's pool threads spin for a while after a call; on a 2-core machine the other session's spinning
# threads would steal the cores from the call being timed. A pause between calls lets them go to sleep.
PAUSE_S = 0.05


INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # the dot-product instructions ONNX Runtime's int8 kernels use


def cpu_description() -> str:
    """The CPU's model name and which int8 dot-product instructions it has, e.g. ``AMD EPYC (avx512_vnni, ...)``."""
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    found = [f for f in INT8_FLAGS if f in flags]
    return f"{name} ({', '.join(found) if found else 'no VNNI/AMX int8 instructions'})"


@dataclass(frozen=True)
class SpeedRow:
    threads: int
    fp32_network_ms: float
    int8_network_ms: float
    fp32_infer_ms: float
    int8_infer_ms: float
    rounds: int

    @property
    def network_speedup(self) -> float:
        return self.fp32_network_ms / self.int8_network_ms

    @property
    def infer_speedup(self) -> float:
        return self.fp32_infer_ms / self.int8_infer_ms


def _median_ms(calls: Sequence[Callable[[], object]], rounds: int, pause_s: float = PAUSE_S) -> list[float]:
    """Median wall time (ms) of each call, the calls alternating round by round after one warm-up round."""
    times: list[list[float]] = [[] for _ in calls]
    for r in range(rounds + 1):
        for i, call in enumerate(calls if r % 2 == 0 else calls[::-1]):  # neither always goes first
            time.sleep(pause_s)
            start = time.perf_counter()
            call()
            if r:
                times[i if r % 2 == 0 else len(calls) - 1 - i].append((time.perf_counter() - start) * 1e3)
    return [statistics.median(t) for t in times]


def compare_speed(
    fp32: Path,
    int8: Path,
    frame: np.ndarray,
    threads: Sequence[int] = (1, 2),
    rounds: int = 30,
) -> list[SpeedRow]:
    """Interleaved medians of both models on ``frame`` (uint8 RGB) at each thread count."""
    from ..runtime import create_runtime

    rows = []
    for n in threads:
        with create_runtime("onnxruntime", fp32, threads=n) as a, create_runtime("onnxruntime", int8, threads=n) as b:
            nets = [a.network_call(), b.network_call()]
            if None in nets:
                raise RuntimeError("the network could not be cut out of both models (is the onnx package missing?)")
            net_a, net_b = _median_ms(nets, rounds)  # type: ignore[arg-type]
            inf_a, inf_b = _median_ms([lambda: a.infer(frame), lambda: b.infer(frame)], rounds)
        rows.append(SpeedRow(n, net_a, net_b, inf_a, inf_b, rounds))
        log.info(
            "%d thread(s): network fp32 %.1f ms, int8 %.1f ms (%.2fx); infer fp32 %.1f ms, int8 %.1f ms (%.2fx)",
            n,
            net_a,
            net_b,
            rows[-1].network_speedup,
            inf_a,
            inf_b,
            rows[-1].infer_speedup,
        )
    return rows
