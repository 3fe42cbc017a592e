"""The machine's arithmetic peaks: the fastest float32 and int8 matrix products that can be measured here.

A peak is the best of several libraries' kernels on a large square product at a given thread count, so that a
network's utilisation is measured against what the cores really give, not against one library's kernel:

- float32: numpy's OpenBLAS (in a child process, once as configured and once with ``OPENBLAS_CORETYPE`` and
  ``OPENBLAS_L2_SIZE`` unset: some machines set them to an older core for old OpenBLAS builds, which costs a
  current one up to half its speed; threadpoolctl reports the kernel that ran), torch ``mm`` and ONNX Runtime's
  ``MatMul`` (MLAS);
- int8: ONNX Runtime ``MatMulInteger`` (uint8 x int8 -> int32, constant weights as in a network) and
  ``QLinearMatMul`` (uint8 x int8 -> uint8), and torch ``_int_mm`` (int8 x int8 -> int32) where the build has it
  on the CPU. On CPUs with VNNI these run the int8 dot-product instructions.

Throughput is counted as 2 operations per multiply-accumulate (GFLOP/s for float32, GOP/s for int8).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

FP32, INT8 = "fp32", "int8"
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@dataclass(frozen=True)
class Peak:
    precision: str  # "fp32" or "int8"
    library: str  # what ran, e.g. "numpy (OpenBLAS)", "onnxruntime MatMulInteger"
    kernel: str  # the kernel or instruction family, where the library tells (OpenBLAS core name)
    threads: int
    n: int  # n x n x n product
    best_gops: float  # 2 x n^3 / best time
    median_gops: float
    note: str = ""

    def label(self) -> str:
        kernel = f", {self.kernel}" if self.kernel else ""
        note = f"; {self.note}" if self.note else ""
        return f"{self.library}{kernel}{note}"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    fn()  # warm-up: packing buffers, thread pool start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times))


def _peak(
    precision: str, library: str, kernel: str, threads: int, n: int, times: tuple[float, float], note: str = ""
) -> Peak:
    ops = 2.0 * n**3
    return Peak(precision, library, kernel, threads, n, ops / times[0] / 1e9, ops / times[1] / 1e9, note)


# ---------------------------------------------------------------------------------------------- numpy (child)
def numpy_child(n: int, repeats: int) -> None:
    """Runs in the child process: time ``a @ b`` and print JSON with the kernel threadpoolctl saw."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    best, median = _time(lambda: a @ b, repeats)
    try:
        from threadpoolctl import threadpool_info

        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        blas = []
    info = blas[0] if blas else {}
    print(
        json.dumps(
            {
                "best_s": best,
                "median_s": median,
                "library": info.get("internal_api", "BLAS"),
                "kernel": info.get("architecture") or ("unknown (threadpoolctl not installed)" if not blas else ""),
                "threads": info.get("num_threads"),
            }
        )
    )


def numpy_peak(n: int, threads: int, repeats: int = 5, clean_env: bool = True, timeout: float = 300.0) -> Peak | None:
    """numpy float32 matmul in a child process at ``threads`` BLAS threads.

    ``clean_env``: ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset for that child alone (OpenBLAS then picks
    its kernel from the CPU); otherwise the environment as it is. None when the child fails.
    """
    env = dict(os.environ)
    env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    pinned = {k: env[k] for k in BLAS_ENV if k in env}
    if clean_env:
        for key in BLAS_ENV:
            env.pop(key, None)
        note = f"{', '.join(pinned)} unset for this run" if pinned else "OpenBLAS picks its kernel"
    else:
        note = "as configured: " + (", ".join(f"{k}={v}" for k, v in pinned.items()) if pinned else "no override")
    code = f"from stdc_ros.bench.peaks import numpy_child; numpy_child({int(n)}, {int(repeats)})"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout, check=True
        )
        out = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        log.warning("numpy matmul peak failed: %s", exc)
        return None
    library = "numpy (OpenBLAS)" if out["library"] == "openblas" else f"numpy ({out['library']})"
    return _peak(FP32, library, out["kernel"], threads, n, (out["best_s"], out["median_s"]), note)


# ---------------------------------------------------------------------------------------------- torch
def _torch_threads(threads: int) -> Callable[[], None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    return lambda: torch.set_num_threads(previous)


def torch_fp32_peak(n: int, threads: int, repeats: int = 5) -> Peak | None:
    try:
        import torch
    except ImportError:
        return None
    restore = _torch_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
        with torch.inference_mode():
            times = _time(lambda: torch.mm(a, b), repeats)
    finally:
        restore()
    return _peak(FP32, "torch mm", "", threads, n, times)


def torch_int8_peak(n: int, threads: int, repeats: int = 5) -> Peak | None:
    """torch._int_mm (int8 x int8 -> int32) on the CPU; None where this torch build lacks it."""
    try:
        import torch
    except ImportError:
        return None
    restore = _torch_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        a = torch.randint(-128, 128, (n, n), dtype=torch.int8, generator=gen)
        b = torch.randint(-128, 128, (n, n), dtype=torch.int8, generator=gen)
        with torch.inference_mode():
            times = _time(lambda: torch._int_mm(a, b), repeats)
    except (RuntimeError, AttributeError, NotImplementedError) as exc:
        log.info("torch._int_mm unavailable on the CPU: %s", exc)
        return None
    finally:
        restore()
    return _peak(INT8, "torch _int_mm", "s8 x s8 -> s32", threads, n, times)


# ---------------------------------------------------------------------------------------------- onnxruntime
def _ort_session(model: object, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])  # type: ignore[attr-defined]


def onnxruntime_peaks(n: int, threads: int, repeats: int = 5) -> list[Peak]:
    """ONNX Runtime MatMul (float32), MatMulInteger and QLinearMatMul (uint8 x int8) with constant weights."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        log.info("the onnx package is missing: no ONNX Runtime matmul peaks")
        return []
    rng = np.random.default_rng(0)
    a32 = rng.standard_normal((n, n), dtype=np.float32)
    b32 = rng.standard_normal((n, n), dtype=np.float32)
    a8 = rng.integers(0, 256, (n, n), dtype=np.uint8)
    b8 = rng.integers(-127, 128, (n, n), dtype=np.int8)

    def model(op: str, a_type: int, out_type: int, inits: list, extra_inputs: Sequence[str] = ()) -> onnx.ModelProto:
        node = helper.make_node(op, ["A", *extra_inputs], ["Y"])
        graph = helper.make_graph(
            [node],
            "peak",
            [helper.make_tensor_value_info("A", a_type, [n, n])],
            [helper.make_tensor_value_info("Y", out_type, [n, n])],
            initializer=inits,
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])

    scalar = lambda v, name, dtype: numpy_helper.from_array(np.array(v, dtype=dtype), name)  # noqa: E731
    cases = [
        (
            FP32,
            "MatMul",
            a32,
            model("MatMul", TensorProto.FLOAT, TensorProto.FLOAT, [numpy_helper.from_array(b32, "B")], ["B"]),
        ),
        (
            INT8,
            "MatMulInteger",
            a8,
            model(
                "MatMulInteger",
                TensorProto.UINT8,
                TensorProto.INT32,
                [numpy_helper.from_array(b8, "B"), scalar(128, "a_zero", np.uint8)],
                ["B", "a_zero"],
            ),
        ),
        (
            INT8,
            "QLinearMatMul",
            a8,
            model(
                "QLinearMatMul",
                TensorProto.UINT8,
                TensorProto.UINT8,
                [
                    scalar(0.02, "a_scale", np.float32),
                    scalar(128, "a_zero", np.uint8),
                    numpy_helper.from_array(b8, "B"),
                    scalar(0.01, "b_scale", np.float32),
                    scalar(0, "b_zero", np.int8),
                    scalar(0.5, "y_scale", np.float32),
                    scalar(128, "y_zero", np.uint8),
                ],
                ["a_scale", "a_zero", "B", "b_scale", "b_zero", "y_scale", "y_zero"],
            ),
        ),
    ]
    peaks = []
    for precision, op, a, proto in cases:
        session = _ort_session(proto, threads)
        times = _time(lambda s=session, a=a: s.run(None, {"A": a}), repeats)
        kernel = "MLAS sgemm" if precision == FP32 else "MLAS u8 x s8"
        peaks.append(_peak(precision, f"onnxruntime {op}", kernel, threads, n, times))
        del session
    return peaks


# ---------------------------------------------------------------------------------------------- all of them
def measure_peaks(threads: Iterable[int], n: int = 2048, repeats: int = 5, numpy_configured: bool = True) -> list[Peak]:
    """Every float32 and int8 kernel above at each thread count (unavailable ones are left out)."""
    peaks: list[Peak] = []
    for t in threads:
        found = [numpy_peak(n, t, repeats, clean_env=True)]
        if numpy_configured and any(k in os.environ for k in BLAS_ENV):
            found.append(numpy_peak(n, t, repeats, clean_env=False))
        found += [torch_fp32_peak(n, t, repeats), torch_int8_peak(n, t, repeats), *onnxruntime_peaks(n, t, repeats)]
        peaks += [p for p in found if p is not None]
        log.info(
            "peaks at %d thread(s): %s", t, ", ".join(f"{p.library} {p.best_gops:.0f}" for p in found if p is not None)
        )
    return peaks


def best_peak(peaks: Iterable[Peak], precision: str, threads: int) -> Peak | None:
    """The fastest kernel of ``precision`` at ``threads`` (by its best run)."""
    matching = [p for p in peaks if p.precision == precision and p.threads == threads]
    return max(matching, key=lambda p: p.best_gops, default=None)


def merge_best(*runs: Iterable[Peak]) -> list[Peak]:
    """Per (precision, library, threads, n), the run with the best time: probes before and after the networks,
    so that a moment when other work held the cores does not pass for the machine's limit."""
    best: dict[tuple[str, str, int, int, str], Peak] = {}
    for run in runs:
        for p in run:
            key = (p.precision, p.library, p.threads, p.n, p.note)
            if key not in best or p.best_gops > best[key].best_gops:
                best[key] = p
    return list(best.values())
