"""Fixtures of the model tooling tests (the tiny models are in test/conftest.py)."""

from __future__ import annotations

from ..tensorrt_helpers import (  # noqa: F401 - fixtures
    fakes,
    shipped_model,
    tiny_int32_bias_qdq_onnx,
    tiny_qdq_onnx,
    tiny_uint8_qdq_onnx,
)
