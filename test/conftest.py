"""Fixtures shared by every test folder: CamVid location, a few real frames, small real model files.

Where torch is missing (.venv-jazzy, colcon test on a ROS 2 install) the fixtures that need it skip their tests,
and ``tiny_onnx`` is the torch-free stand-in of test/tiny_graph.py.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from stdc_ros.harness.domains import TEST_DOMAINS, pick_domain_id

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
    """Six real CamVid test frames as (name, RGB uint8 360x480x3, label ids uint8 360x480), read without torch
    (training.datasets needs it) as ``CamVid(root, ["test"])`` lists and loads them."""
    from stdc_ros.image_files import read_label_map, read_rgb

    pairs = [line.split() for line in (camvid_root / "test.txt").read_text().splitlines() if line.strip()]
    picks = np.linspace(0, len(pairs) - 1, 6).astype(int)
    frames = []
    for image, label in (pairs[int(i)] for i in picks):
        labels = read_label_map(camvid_root / label.lstrip("/"))
        frames.append((Path(image).stem, read_rgb(camvid_root / image.lstrip("/")), np.minimum(labels, 11)))
    return frames


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real STDC1 (11 classes) with seeded random weights and calibrated BN, saved as a checkpoint."""
    torch = pytest.importorskip("torch")

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
def tiny_onnx(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoint exported to ONNX with pre/post-processing in the graph, network input 96x128.

    Without torch: a graph of the same convention, size and classes written with onnx alone (test/tiny_graph.py).
    """
    if importlib.util.find_spec("torch") is None:
        from .tiny_graph import write_tiny_full_onnx

        return write_tiny_full_onnx(tmp_path_factory.mktemp("onnx") / "tiny_graph.onnx")
    from stdc_ros.model_tools.export import export_onnx
    from stdc_ros.network import load_checkpoint_model

    tiny_checkpoint = request.getfixturevalue("tiny_checkpoint")
    path = tmp_path_factory.mktemp("onnx") / "stdc1_random.onnx"
    export_onnx(load_checkpoint_model(tiny_checkpoint), path, input_size=(96, 128), label_set="camvid")
    return path


@pytest.fixture(scope="session")
def tiny_flip_onnx(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_onnx`` exported with test-time flip inside the graph (``--flip-average``)."""
    from stdc_ros.model_tools.export import export_onnx
    from stdc_ros.network import load_checkpoint_model

    path = tmp_path_factory.mktemp("onnx") / "stdc1_random_flip.onnx"
    export_onnx(load_checkpoint_model(tiny_checkpoint), path, (96, 128), label_set="camvid", flip_average=True)
    return path


@pytest.fixture(scope="session")
def tiny_raw_onnx(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoint exported in the raw convention (normalised tensor in, logits out), network 96x128."""
    from stdc_ros.model_tools.export import export_onnx
    from stdc_ros.network import load_checkpoint_model

    path = tmp_path_factory.mktemp("onnx_raw") / "stdc1_random.raw.onnx"
    export_onnx(load_checkpoint_model(tiny_checkpoint), path, input_size=(96, 128), embed_pre_post=False)
    return path


@pytest.fixture(scope="session")
def camvid_images(camvid_test_frames: list[tuple[str, np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    return [image for _, image, _ in camvid_test_frames]


@pytest.fixture
def ros_domain_id() -> int:
    """A ROS_DOMAIN_ID no other test of this run uses (concurrent runs on one domain see each other)."""
    return pick_domain_id(TEST_DOMAINS, salt=os.getpid() * 7 + next(_domain_ids))
