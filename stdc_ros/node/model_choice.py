"""Which precision the node runs at and which packaged model that means (pure functions: no ROS, no runtime).

``precision: auto`` (the default) resolves by where the network runs: ONNX Runtime on a CPU with int8 dot-product
instructions (AVX-512 VNNI, AVX-VNNI, AMX, ARM dot product) runs the INT8 model (2x the FP32 speed at the same CamVid
test mIoU, see models/MODEL_CARD.md); on a CPU without them (AVX2 only) int8 is emulated in 16 bits and was slower
than FP32, so FP32 runs there. TensorRT builds FP16 engines, and everything else (CUDA, torch) runs FP32. With
``model_path`` empty the packaged model follows the precision.
"""

from __future__ import annotations

from ..machine import CpuInfo, cpu_has_int8_dot_product, read_cpu_info

PRECISIONS = ("auto", "fp32", "fp16", "int8")
FP32_MODEL = "models/stdc1_camvid.onnx"
INT8_MODEL = "models/stdc1_camvid_int8.onnx"  # the same network, Q/DQ int8 (TensorRT can take it too)


def _onnxruntime_on_cpu(backend: str, device: str) -> bool:
    return backend == "onnxruntime" and device.lower().partition(":")[0] == "cpu"


def effective_precision(backend: str, device: str, int8_dot_product: bool | None = None) -> str:
    """What ``precision: auto`` means for ``backend`` on ``device``: int8, fp16 or fp32.

    ``int8_dot_product``: whether the CPU has int8 dot-product instructions (None: this machine's CPU).
    """
    kind = device.lower().partition(":")[0]
    if backend == "tensorrt" or (backend == "onnxruntime" and kind == "tensorrt"):
        return "fp16"
    if _onnxruntime_on_cpu(backend, device):
        fast_int8 = cpu_has_int8_dot_product() if int8_dot_product is None else int8_dot_product
        return "int8" if fast_int8 else "fp32"
    return "fp32"


def resolve_precision(precision: str, backend: str, device: str, int8_dot_product: bool | None = None) -> str:
    """``precision`` itself, or what ``auto`` resolves to; ValueError for an unknown value."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return effective_precision(backend, device, int8_dot_product) if precision == "auto" else precision


def auto_precision_reason(backend: str, device: str, cpu: CpuInfo | None = None) -> str:
    """Why ``auto`` chose what it did (``cpu``: this machine's by default), for the node's log."""
    if not _onnxruntime_on_cpu(backend, device):
        return f"precision auto -> {effective_precision(backend, device)} for {backend} on {device}"
    cpu = cpu or read_cpu_info()
    if cpu.int8_dot_product:
        return f"precision auto -> int8: this CPU has int8 dot products ({cpu.int8_isa})"
    return (
        f"precision auto -> fp32: this CPU has no int8 dot-product instructions (int8 would run on {cpu.int8_isa}, "
        "measured slower than fp32 on such a CPU: docs/performance.md)"
    )


def packaged_model(precision: str) -> str:
    """The packaged model file (relative to the package's share folder) for a resolved precision."""
    return INT8_MODEL if precision == "int8" else FP32_MODEL
