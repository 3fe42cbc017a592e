"""Fixtures of the runtime tests: the torch reference and its margins (the tiny models are in test/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest

from ..tensorrt_helpers import (  # noqa: F401 - fixtures
    fakes,
    shipped_model,
    tiny_qdq_onnx,
)


@pytest.fixture(scope="session")
def torch_reference(tiny_checkpoint):
    from stdc_ros.runtime import create_runtime

    with create_runtime("torch", tiny_checkpoint) as runtime:
        yield runtime


@pytest.fixture(scope="session")
def references(torch_reference, camvid_images: list[np.ndarray]) -> list:
    """The torch reference's labels, confidence and top-2 margins of each frame (computed once: torch is slow)."""
    from stdc_ros.model_tools.agreement import torch_references

    return torch_references(torch_reference, camvid_images)
