"""Fixtures shared by every test folder: CamVid location, a few real frames, small real model files."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
_domain_ids = itertools.count(1)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def camvid_root() -> Path:
    """CamVid as described in ../shared/camvid/README.md (override with STDC_CAMVID_ROOT)."""
    root = Path(os.environ.get("STDC_CAMVID_ROOT", REPO_ROOT.parent / "shared" / "camvid"))
    if not (root / "test.txt").is_file():
        pytest.skip(f"CamVid not found at {root}")
    return root


@pytest.fixture(scope="session")
def camvid_test_frames(camvid_root: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Six real CamVid test frames as (name, RGB uint8 360x480x3, label ids uint8 360x480)."""
    from training.datasets import CamVid

    data = CamVid(camvid_root, ["test"])
    picks = np.linspace(0, len(data) - 1, 6).astype(int)
    return [(data.name(int(i)), *data.load(int(i))) for i in picks]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real STDC1 (11 classes) with seeded random weights and calibrated BN, saved as a checkpoint."""
    import torch

    from stdc_ros.network import build_stdc, save_model_checkpoint

    torch.manual_seed(0)
    model = build_stdc("stdc1", 11)
    model.train()
    with torch.no_grad():  # give BN running statistics that are not the identity
        for _ in range(2):
            model(torch.randn(2, 3, 64, 96))
    path = tmp_path_factory.mktemp("models") / "stdc1_random.pt"
    save_model_checkpoint(model.eval(), path, label_set="camvid", input_size=[96, 128])
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoint exported to ONNX with pre/post-processing in the graph, network input 96x128."""
    from stdc_ros.network import load_checkpoint_model
    from stdc_ros.runtime.export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "stdc1_random.onnx"
    export_onnx(load_checkpoint_model(tiny_checkpoint), path, input_size=(96, 128), label_set="camvid")
    return path


@pytest.fixture(scope="session")
def tiny_flip_onnx(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_onnx`` exported with test-time flip inside the graph (``--flip-average``)."""
    from stdc_ros.network import load_checkpoint_model
    from stdc_ros.runtime.export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "stdc1_random_flip.onnx"
    export_onnx(load_checkpoint_model(tiny_checkpoint), path, (96, 128), label_set="camvid", flip_average=True)
    return path


@pytest.fixture
def ros_domain_id() -> int:
    """A ROS_DOMAIN_ID no other test of this run uses (concurrent runs on one domain see each other)."""
    return 1 + (os.getpid() * 7 + next(_domain_ids)) % 100
