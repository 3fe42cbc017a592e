"""numpy/OpenCV pre/post-processing against the torch ops the exported graph and the reference use."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")  # needs torch: skipped where it is absent (a ROS install, .venv-jazzy)

import torch
import torch.nn.functional as F

from stdc_ros.preprocessing import IMAGENET_MEAN, IMAGENET_STD, normalize_rgb
from stdc_ros.runtime.graph import FullGraph
from stdc_ros.runtime.prepost import NearestResizer, Preprocessor, argmax_confidence, check_image, to_rgb


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ((96, 128), (360, 480)),
        ((96, 128), (97, 131)),
        ((360, 480), (96, 128)),
        ((45, 60), (720, 960)),
        ((7, 5), (7, 5)),
    ],
)
def test_nearest_resize_matches_torch_exactly(src: tuple[int, int], dst: tuple[int, int]) -> None:
    values = np.random.default_rng(0).integers(0, 255, src, dtype=np.uint8)
    ours = NearestResizer()(values, dst)
    theirs = F.interpolate(torch.from_numpy(values)[None, None], size=dst, mode="nearest")[0, 0].numpy()
    np.testing.assert_array_equal(ours, theirs)


def test_argmax_confidence_matches_numpy_and_torch() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(11, 40, 50)).astype(np.float32)
    logits[3, :5] = logits[7, :5] = 9.0  # exact ties: the first maximum wins, as np.argmax and torch
    labels, conf = argmax_confidence(logits, confidence=True)
    np.testing.assert_array_equal(labels, np.argmax(logits, axis=0))
    probs = np.exp(logits - logits.max(0)) / np.exp(logits - logits.max(0)).sum(0)
    np.testing.assert_allclose(conf, probs.max(0), rtol=1e-5)
    t_labels, t_conf = FullGraph.postprocess(torch.from_numpy(logits)[None], 40, 50)
    np.testing.assert_array_equal(labels, t_labels[0].numpy())
    np.testing.assert_allclose(conf, t_conf[0].numpy(), rtol=1e-5)
    only, none = argmax_confidence(logits, confidence=False)
    np.testing.assert_array_equal(only, labels)
    assert none is None and labels.dtype == np.uint8 and conf.dtype == np.float32


def test_preprocessor_matches_the_shared_normalisation_and_the_graph() -> None:
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    pre = Preprocessor((48, 64), IMAGENET_MEAN, IMAGENET_STD)
    blob = pre(image).copy()
    np.testing.assert_allclose(blob, normalize_rgb(image), atol=1e-5)
    np.testing.assert_allclose(pre(to_rgb(image[..., ::-1].copy(), "bgr")), blob, atol=1e-6)
    np.testing.assert_allclose(pre(np.ascontiguousarray(image[..., ::-1]), "bgr"), blob, atol=1e-6)
    graph = FullGraph(torch.nn.Identity(), (48, 64), IMAGENET_MEAN, IMAGENET_STD)
    np.testing.assert_allclose(graph.preprocess(torch.from_numpy(image)[None]).numpy(), blob, atol=1e-5)


def test_preprocessor_resize_is_close_to_the_graph_resize() -> None:
    """uint8 OpenCV resize vs float torch resize: at most one grey level apart (cv2 rounds to uint8)."""
    image = np.random.default_rng(1).integers(0, 256, (360, 480, 3), dtype=np.uint8)
    ours = Preprocessor((96, 128), IMAGENET_MEAN, IMAGENET_STD)(image)
    graph = FullGraph(torch.nn.Identity(), (96, 128), IMAGENET_MEAN, IMAGENET_STD)
    theirs = graph.preprocess(torch.from_numpy(image)[None]).numpy()
    assert np.abs(ours - theirs).max() <= 1.0 / (255 * min(IMAGENET_STD)) + 1e-4


def test_check_image() -> None:
    base = np.zeros((10, 12, 3), np.uint8)
    assert check_image(base) is base
    assert check_image(np.zeros((10, 24, 3), np.uint8)[:, ::2]).flags.c_contiguous
    with pytest.raises(TypeError):
        check_image([[0, 0, 0]])  # type: ignore[arg-type]
