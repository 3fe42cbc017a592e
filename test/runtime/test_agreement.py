"""ONNX Runtime against the torch reference on real CamVid frames, in every pre/post-processing mode.

Agreement is asserted on pixels whose reference top-2 softmax margin exceeds 1e-3: the tiny model has random
weights, so many pixels have near-tied logits and float rounding alone (fused kernels, summation order, uint8
vs float resize) flips their argmax; that says nothing about the export. Overall agreement is asserted too,
with a looser bound, and printed with -s.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from stdc_ros.model_tools.agreement import DEFAULT_MARGIN, compare
from stdc_ros.runtime import create_runtime

MIN_CONFIDENT = 0.999  # the bar, on clear-margin pixels
MIN_OVERALL = 0.995  # includes near-ties; measured 99.9-100 % on this model


@pytest.mark.parametrize(("model", "prepost"), [("full", "graph"), ("full", "numpy"), ("raw", "numpy")])
def test_onnxruntime_agrees_with_torch_on_camvid(
    model: str,
    prepost: str,
    tiny_onnx: Path,
    tiny_raw_onnx: Path,
    camvid_images: list[np.ndarray],
    references: list,
) -> None:
    path = tiny_onnx if model == "full" else tiny_raw_onnx
    with create_runtime("onnxruntime", path, prepost=prepost) as rt:
        assert rt.prepost == prepost
        report = compare(references, rt, camvid_images, DEFAULT_MARGIN)
    print(f"\nonnxruntime {model}/{prepost} vs torch: {report.summary()}")
    assert report.confident_pixels > 0.02 * report.pixels  # enough clear pixels for the bar to mean something
    assert report.confident >= MIN_CONFIDENT
    assert report.overall >= MIN_OVERALL
    assert report.max_confidence_error < 1e-4


def test_default_mode_on_cpu_is_numpy(tiny_onnx: Path) -> None:
    with create_runtime("onnxruntime", tiny_onnx) as rt:
        assert rt.prepost == "numpy"  # measured faster on CPU (docs/runtimes.md)
        assert rt.network_call() is not None
    with create_runtime("onnxruntime", tiny_onnx, prepost="graph") as rt:
        assert rt.network_call() is None


def test_output_contract(tiny_onnx: Path, camvid_images: list[np.ndarray]) -> None:
    image = camvid_images[0]
    for prepost in ("graph", "numpy"):
        with create_runtime("onnxruntime", tiny_onnx, prepost=prepost) as rt:
            assert (rt.input_size, rt.num_classes) == ((96, 128), 11)
            plain = rt.infer(image)
            assert plain.confidence is None
            assert plain.labels.dtype == np.uint8 and plain.labels.shape == image.shape[:2]
            seg = rt.infer(image, confidence=True)
            np.testing.assert_array_equal(seg.labels, plain.labels)
            assert seg.confidence.dtype == np.float32 and seg.confidence.shape == image.shape[:2]
            assert seg.labels.max() < rt.num_classes
            assert np.all(seg.confidence > 1.0 / rt.num_classes - 1e-6) and np.all(seg.confidence <= 1.0 + 1e-6)


@pytest.mark.parametrize("prepost", ["graph", "numpy"])
def test_bgr_input_equals_rgb(prepost: str, tiny_onnx: Path, torch_reference, camvid_images: list[np.ndarray]) -> None:
    image = camvid_images[1]
    bgr = np.ascontiguousarray(image[..., ::-1])
    with create_runtime("onnxruntime", tiny_onnx, prepost=prepost) as rt:
        np.testing.assert_array_equal(rt.infer(bgr, channel_order="bgr").labels, rt.infer(image).labels)
    np.testing.assert_array_equal(
        torch_reference.infer(bgr, channel_order="bgr").labels, torch_reference.infer(image).labels
    )


@pytest.mark.parametrize("size", [(97, 131), (50, 61), (96, 128), (200, 90)])
def test_any_image_size_comes_back_at_its_own_size(
    size: tuple[int, int], tiny_onnx: Path, torch_reference, camvid_images: list[np.ndarray]
) -> None:
    """Down- and upscaling, odd sizes, the network size itself: labels at the caller's resolution."""
    import cv2

    image = cv2.resize(camvid_images[2], (size[1], size[0]), interpolation=cv2.INTER_AREA)
    ref = torch_reference.infer(image).labels
    for prepost in ("graph", "numpy"):
        with create_runtime("onnxruntime", tiny_onnx, prepost=prepost) as rt:
            labels = rt.infer(image).labels
        assert labels.shape == size
        # same resize of the labels everywhere: only near-tied pixels may differ
        assert (labels == ref).mean() > 0.99


def test_runtime_works_from_another_thread(tiny_onnx: Path, camvid_images: list[np.ndarray]) -> None:
    """A ROS executor calls from its own thread."""
    with create_runtime("onnxruntime", tiny_onnx) as rt:
        expected = rt.infer(camvid_images[0]).labels
        results: list[np.ndarray] = []
        worker = threading.Thread(target=lambda: results.append(rt.infer(camvid_images[0]).labels))
        worker.start()
        worker.join(timeout=60)
    assert len(results) == 1
    np.testing.assert_array_equal(results[0], expected)
