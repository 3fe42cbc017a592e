"""The few CUDA runtime calls the TensorRT backend needs, through NVIDIA's cuda-python (as TensorRT's own samples do).

cuda-python >= 12.6 puts the runtime API in ``cuda.bindings.runtime``; older releases in ``cuda.cudart``. Every
call returns ``(error, *values)``; ``CudaRuntime`` checks the error and raises ``CudaError`` naming the call.
The module is passed in (``CudaRuntime(module)``) so tests run the same code against a fake.

No torch: device buffers come from ``cudaMalloc``, host staging buffers from ``cudaMallocHost`` (page-locked, so
the copies really are asynchronous) wrapped as numpy arrays.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InferenceError

INSTALL_HINT = "pip install cuda-python (NVIDIA's CUDA Python bindings; pick the CUDA major of your driver)"


class CudaError(InferenceError):
    """A CUDA runtime call failed (no device, out of memory, invalid pointer...)."""


@dataclass(frozen=True)
class GpuInfo:
    """What tells two GPUs apart for a TensorRT engine (Orin modules share a name and compute capability)."""

    name: str
    compute_capability: tuple[int, int]
    sm_count: int
    total_memory: int  # bytes


def load_cudart() -> Any:
    """cuda-python's runtime module: ``cuda.bindings.runtime`` (>= 12.6), else the older ``cuda.cudart``."""
    try:
        from cuda.bindings import runtime

        return runtime
    except ImportError:
        pass
    try:
        from cuda import cudart  # cuda-python < 12.6

        return cudart
    except ImportError as exc:
        raise ImportError(
            f"the tensorrt backend needs cuda-python for device memory and streams: {INSTALL_HINT}"
        ) from exc


class CudaRuntime:
    """Checked wrappers over the cudart calls the backend uses; one instance per runtime."""

    def __init__(self, cudart: Any | None = None) -> None:
        self._rt = cudart if cudart is not None else load_cudart()
        self._success = self._rt.cudaError_t.cudaSuccess
        self._host: dict[int, int] = {}  # id of a host array's buffer -> pointer to free

    def _check(self, result: Any, what: str) -> Any:
        err, *values = result if isinstance(result, tuple) else (result,)
        if err != self._success:
            raise CudaError(f"CUDA {what} failed: {self._error_text(err)}")
        return values[0] if len(values) == 1 else tuple(values) if values else None

    def _error_text(self, err: Any) -> str:
        try:
            _, text = self._rt.cudaGetErrorString(err)
            return f"{getattr(err, 'name', err)} ({text.decode() if isinstance(text, bytes) else text})"
        except Exception:  # the error string itself is only a courtesy
            return str(err)

    # -- devices -----------------------------------------------------------------------------------------

    def device_count(self) -> int:
        try:
            return int(self._check(self._rt.cudaGetDeviceCount(), "cudaGetDeviceCount"))
        except CudaError:  # no driver or no device: zero devices, the caller says so
            return 0

    def set_device(self, index: int) -> None:
        self._check(self._rt.cudaSetDevice(index), f"cudaSetDevice({index})")

    def device_info(self, index: int) -> GpuInfo:
        prop = self._check(self._rt.cudaGetDeviceProperties(index), f"cudaGetDeviceProperties({index})")
        name = prop.name
        if isinstance(name, (bytes, bytearray)):
            name = bytes(name).split(b"\0", 1)[0].decode(errors="replace")
        return GpuInfo(
            name=str(name).strip(),
            compute_capability=(int(prop.major), int(prop.minor)),
            sm_count=int(prop.multiProcessorCount),
            total_memory=int(prop.totalGlobalMem),
        )

    def runtime_version(self) -> int:
        """e.g. 12060 for CUDA 12.6."""
        return int(self._check(self._rt.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion"))

    # -- memory ------------------------------------------------------------------------------------------

    def malloc(self, nbytes: int) -> int:
        return int(self._check(self._rt.cudaMalloc(nbytes), f"cudaMalloc({nbytes})"))

    def free(self, pointer: int) -> None:
        self._check(self._rt.cudaFree(pointer), "cudaFree")

    def host_array(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A page-locked host buffer as a numpy array; free it with ``free_host``."""
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        pointer = int(self._check(self._rt.cudaMallocHost(nbytes), f"cudaMallocHost({nbytes})"))
        raw = (ctypes.c_byte * nbytes).from_address(pointer)
        array = np.frombuffer(raw, dtype=dtype).reshape(shape)
        self._host[array.ctypes.data] = pointer
        return array

    def free_host(self, array: np.ndarray) -> None:
        pointer = self._host.pop(array.ctypes.data, None)
        if pointer is not None:
            self._check(self._rt.cudaFreeHost(pointer), "cudaFreeHost")

    # -- streams and copies ------------------------------------------------------------------------------

    def stream_create(self) -> Any:
        return self._check(self._rt.cudaStreamCreate(), "cudaStreamCreate")

    def stream_destroy(self, stream: Any) -> None:
        self._check(self._rt.cudaStreamDestroy(stream), "cudaStreamDestroy")

    def copy_to_device(self, device: int, host: np.ndarray, stream: Any) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._check(self._rt.cudaMemcpyAsync(device, host.ctypes.data, host.nbytes, kind, stream), "copy to device")

    def copy_to_host(self, host: np.ndarray, device: int, stream: Any) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._check(self._rt.cudaMemcpyAsync(host.ctypes.data, device, host.nbytes, kind, stream), "copy to host")

    def synchronize(self, stream: Any) -> None:
        self._check(self._rt.cudaStreamSynchronize(stream), "cudaStreamSynchronize")


def stream_handle(stream: Any) -> int:
    """The integer handle TensorRT's ``execute_async_v3`` takes (cuda-python stream objects convert with int())."""
    return int(stream)
