"""Fixtures of the runtime tests: the tiny model in the raw ONNX convention and reference margins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_raw_onnx(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoint exported in the raw convention (normalised tensor in, logits out), network 96x128."""
    from stdc_ros.network import load_checkpoint_model
    from stdc_ros.runtime.export import export_onnx

    path = tmp_path_factory.mktemp("onnx_raw") / "stdc1_random.raw.onnx"
    export_onnx(load_checkpoint_model(tiny_checkpoint), path, input_size=(96, 128), embed_pre_post=False)
    return path


@pytest.fixture(scope="session")
def torch_reference(tiny_checkpoint: Path):
    from stdc_ros.runtime import create_runtime

    with create_runtime("torch", tiny_checkpoint) as runtime:
        yield runtime


@pytest.fixture(scope="session")
def camvid_images(camvid_test_frames: list[tuple[str, np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    return [image for _, image, _ in camvid_test_frames]


@pytest.fixture(scope="session")
def references(torch_reference, camvid_images: list[np.ndarray]) -> list:
    """The torch reference's labels, confidence and top-2 margins of each frame (computed once: torch is slow)."""
    from stdc_ros.runtime.agreement import torch_references

    return torch_references(torch_reference, camvid_images)
