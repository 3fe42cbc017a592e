"""Which precision the node runs at and which packaged model that means (pure functions: no ROS, no runtime).

``precision: auto`` (the default) resolves by where the network runs: ONNX Runtime on the CPU runs the INT8 model
(2x the FP32 speed at the same CamVid test mIoU, see models/MODEL_CARD.md), TensorRT builds FP16 engines, and
everything else (CUDA, torch) runs FP32. With ``model_path`` empty the packaged model follows the precision.
"""

from __future__ import annotations

PRECISIONS = ("auto", "fp32", "fp16", "int8")
FP32_MODEL = "models/stdc1_camvid.onnx"
INT8_MODEL = "models/stdc1_camvid_int8.onnx"  # the same network, Q/DQ int8 (TensorRT can take it too)


def effective_precision(backend: str, device: str) -> str:
    """What ``precision: auto`` means for ``backend`` on ``device``: int8, fp16 or fp32."""
    kind = device.lower().partition(":")[0]
    if backend == "tensorrt" or (backend == "onnxruntime" and kind == "tensorrt"):
        return "fp16"
    if backend == "onnxruntime" and kind == "cpu":
        return "int8"
    return "fp32"


def resolve_precision(precision: str, backend: str, device: str) -> str:
    """``precision`` itself, or what ``auto`` resolves to; ValueError for an unknown value."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return effective_precision(backend, device) if precision == "auto" else precision


def packaged_model(precision: str) -> str:
    """The packaged model file (relative to the package's share folder) for a resolved precision."""
    return INT8_MODEL if precision == "int8" else FP32_MODEL
