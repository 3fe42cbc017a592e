"""A fake of cuda-python's runtime module (``cuda.bindings.runtime``, or ``cuda.cudart`` before 12.6).

"Device" memory is host memory at real addresses, so copies are real ``memmove``s and the fake TensorRT engine
reads and writes the very buffers the backend allocated. Every call returns ``(cudaError_t, *values)`` as the
real bindings do, and checks its arguments the way the driver would fail: unknown pointers, copies past the end
of an allocation, destroyed streams, device indices out of range.
"""

from __future__ import annotations

import ctypes
import enum
import sys
import types
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec
from typing import Any

import numpy as np


class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorInvalidDevice = 101
    cudaErrorNoDevice = 100
    cudaErrorInvalidResourceHandle = 400


class cudaMemcpyKind(enum.IntEnum):
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2
    cudaMemcpyDeviceToDevice = 3


@dataclass
class DeviceProperties:
    name: bytes = b"NVIDIA Fake GPU"
    major: int = 8
    minor: int = 7
    multiProcessorCount: int = 16
    totalGlobalMem: int = 32 << 30


class FakeStream:
    """Stands for ``cudaStream_t``: converts to its integer handle with int()."""

    def __init__(self, handle: int) -> None:
        self.handle = handle

    def __int__(self) -> int:
        return self.handle


@dataclass
class FakeCuda:
    """State behind the fake module: devices, allocations, streams; tests read it to check what happened."""

    devices: list[DeviceProperties] = field(default_factory=lambda: [DeviceProperties()])
    runtime_version: int = 12060
    device_memory: dict[int, np.ndarray] = field(default_factory=dict)  # pointer -> backing bytes
    host_memory: dict[int, np.ndarray] = field(default_factory=dict)
    streams: dict[int, FakeStream] = field(default_factory=dict)
    current_device: int = 0
    misalign: int = 0  # bytes added to every cudaMalloc pointer (a driver bug TensorRT refuses)
    calls: list[str] = field(default_factory=list)
    _next_stream: int = 0x5000

    # -- helpers for the fake TensorRT ---------------------------------------------------------------------

    def device_view(self, pointer: int, nbytes: int) -> np.ndarray:
        """The bytes at a device pointer; AssertionError unless it lies inside one device allocation."""
        base = self._owner(self.device_memory, pointer, nbytes)
        assert base is not None, f"{pointer:#x} (+{nbytes}) is not inside a device allocation"
        offset = pointer - base
        return self.device_memory[base][offset : offset + nbytes]

    def is_device_pointer(self, pointer: int) -> bool:
        return pointer in self.device_memory

    def live_stream(self, handle: int) -> bool:
        return handle in self.streams

    # -- the module's functions ----------------------------------------------------------------------------

    def module(self, layout: str = "bindings") -> dict[str, types.ModuleType]:
        """sys.modules entries: ``cuda``, ``cuda.bindings`` and ``cuda.bindings.runtime`` (layout "bindings",
        cuda-python >= 12.6), or ``cuda`` and ``cuda.cudart`` (layout "legacy")."""
        runtime = types.ModuleType("runtime")
        runtime.cudaError_t = cudaError_t
        runtime.cudaMemcpyKind = cudaMemcpyKind
        for name in dir(self):
            if name.startswith("cuda"):
                setattr(runtime, name, getattr(self, name))
        root = _module("cuda", package=True)
        if layout == "bindings":
            runtime.__name__ = "cuda.bindings.runtime"
            runtime.__spec__ = ModuleSpec("cuda.bindings.runtime", None)
            bindings = _module("cuda.bindings", package=True)
            bindings.runtime = runtime
            root.bindings = bindings
            return {"cuda": root, "cuda.bindings": bindings, "cuda.bindings.runtime": runtime}
        runtime.__name__ = "cuda.cudart"
        runtime.__spec__ = ModuleSpec("cuda.cudart", None)
        root.cudart = runtime
        return {"cuda": root, "cuda.cudart": runtime}

    def cudaGetErrorString(self, err: Any) -> tuple[cudaError_t, bytes]:
        return cudaError_t.cudaSuccess, f"fake error {int(err)}".encode()

    def cudaGetDeviceCount(self) -> tuple[cudaError_t, int]:
        if not self.devices:
            return cudaError_t.cudaErrorNoDevice, 0
        return cudaError_t.cudaSuccess, len(self.devices)

    def cudaSetDevice(self, index: int) -> tuple[cudaError_t]:
        self.calls.append(f"cudaSetDevice({index})")
        if not 0 <= index < len(self.devices):
            return (cudaError_t.cudaErrorInvalidDevice,)
        self.current_device = index
        return (cudaError_t.cudaSuccess,)

    def cudaGetDeviceProperties(self, index: int) -> tuple[cudaError_t, Any]:
        if not 0 <= index < len(self.devices):
            return cudaError_t.cudaErrorInvalidDevice, None
        return cudaError_t.cudaSuccess, self.devices[index]

    def cudaRuntimeGetVersion(self) -> tuple[cudaError_t, int]:
        return cudaError_t.cudaSuccess, self.runtime_version

    def cudaMalloc(self, nbytes: int) -> tuple[cudaError_t, int]:
        return self._allocate(self.device_memory, nbytes, self.misalign)

    def cudaMallocHost(self, nbytes: int) -> tuple[cudaError_t, int]:
        return self._allocate(self.host_memory, nbytes)

    def cudaFree(self, pointer: int) -> tuple[cudaError_t]:
        return (cudaError_t.cudaSuccess,) if self.device_memory.pop(pointer, None) is not None else (_invalid(),)

    def cudaFreeHost(self, pointer: int) -> tuple[cudaError_t]:
        return (cudaError_t.cudaSuccess,) if self.host_memory.pop(pointer, None) is not None else (_invalid(),)

    def cudaStreamCreate(self) -> tuple[cudaError_t, FakeStream]:
        self._next_stream += 16
        stream = FakeStream(self._next_stream)
        self.streams[stream.handle] = stream
        return cudaError_t.cudaSuccess, stream

    def cudaStreamDestroy(self, stream: FakeStream) -> tuple[cudaError_t]:
        ok = self.streams.pop(int(stream), None) is not None
        return (cudaError_t.cudaSuccess,) if ok else (cudaError_t.cudaErrorInvalidResourceHandle,)

    def cudaStreamSynchronize(self, stream: FakeStream) -> tuple[cudaError_t]:
        ok = int(stream) in self.streams
        return (cudaError_t.cudaSuccess,) if ok else (cudaError_t.cudaErrorInvalidResourceHandle,)

    def cudaMemcpyAsync(
        self, dst: int, src: int, nbytes: int, kind: cudaMemcpyKind, stream: FakeStream
    ) -> tuple[cudaError_t]:
        if int(stream) not in self.streams:
            return (cudaError_t.cudaErrorInvalidResourceHandle,)
        spaces = {
            cudaMemcpyKind.cudaMemcpyHostToDevice: (self.host_memory, self.device_memory),
            cudaMemcpyKind.cudaMemcpyDeviceToHost: (self.device_memory, self.host_memory),
        }
        if kind not in spaces:
            return (cudaError_t.cudaErrorInvalidValue,)
        source_space, target_space = spaces[kind]
        if self._owner(source_space, src, nbytes) is None or self._owner(target_space, dst, nbytes) is None:
            return (cudaError_t.cudaErrorInvalidValue,)  # wrong direction, unknown pointer or past the end
        ctypes.memmove(dst, src, nbytes)
        self.calls.append(f"cudaMemcpyAsync({kind.name}, {nbytes})")
        return (cudaError_t.cudaSuccess,)

    # -- internals -----------------------------------------------------------------------------------------

    def _allocate(self, space: dict[int, np.ndarray], nbytes: int, offset: int = 0) -> tuple[cudaError_t, int]:
        if nbytes <= 0:
            return cudaError_t.cudaErrorInvalidValue, 0
        backing = np.zeros(nbytes + 512, dtype=np.uint8)
        start = (-backing.ctypes.data) % 256 + offset  # cudaMalloc aligns to at least 256 bytes
        block = backing[start : start + nbytes]
        space[block.ctypes.data] = block
        return cudaError_t.cudaSuccess, block.ctypes.data

    @staticmethod
    def _owner(space: dict[int, np.ndarray], pointer: int, nbytes: int) -> int | None:
        for base, block in space.items():
            if base <= pointer and pointer + nbytes <= base + block.nbytes:
                return base
        return None


def _invalid() -> cudaError_t:
    return cudaError_t.cudaErrorInvalidValue


def _module(name: str, package: bool = False) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = ModuleSpec(name, None, is_package=package)
    if package:
        module.__path__ = []  # type: ignore[attr-defined]
    return module


def install(monkeypatch: Any, fake: FakeCuda, layout: str = "bindings") -> FakeCuda:
    """Put ``fake`` where ``from cuda.bindings import runtime`` (or ``from cuda import cudart``) finds it."""
    for name in [n for n in sys.modules if n == "cuda" or n.startswith("cuda.")]:
        monkeypatch.delitem(sys.modules, name)
    for name, module in fake.module(layout).items():
        monkeypatch.setitem(sys.modules, name, module)
    return fake
