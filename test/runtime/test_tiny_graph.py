"""The torch-free tiny model (test/tiny_graph.py) follows the ``full`` convention the way exported files do.

It stands in for the exported tiny checkpoint wherever torch is missing (.venv-jazzy, colcon test on a ROS 2
install), so it is checked in both environments: the runtime cuts its network out by the recorded names, and the
numpy pre/post-processing around that network gives the labels of the whole graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from stdc_ros.runtime import create_runtime
from stdc_ros.runtime.conventions import read_model_metadata

from ..tiny_graph import NETWORK_INPUT, NETWORK_OUTPUT, write_tiny_full_onnx


@pytest.fixture(scope="module")
def tiny_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_full_onnx(tmp_path_factory.mktemp("tiny_graph") / "tiny.onnx")


def test_metadata_names_the_network(tiny_graph: Path) -> None:
    meta = read_model_metadata(tiny_graph)
    assert (meta.format, meta.input_size, meta.num_classes, meta.label_set) == ("full", (96, 128), 11, "camvid")
    assert (meta.network_input, meta.network_output) == (NETWORK_INPUT, NETWORK_OUTPUT)


@pytest.mark.parametrize("size", [(96, 128), (360, 480), (61, 83)])
def test_cut_network_with_numpy_pre_post_matches_the_whole_graph(tiny_graph: Path, size: tuple[int, int]) -> None:
    image = np.random.default_rng(sum(size)).integers(0, 256, (*size, 3), dtype=np.uint8)
    whole = ort.InferenceSession(str(tiny_graph), providers=["CPUExecutionProvider"])
    labels, confidence = whole.run(None, {"image": image[None]})
    with create_runtime("onnxruntime", tiny_graph, prepost="numpy") as runtime:
        assert runtime.prepost == "numpy"  # the network was cut out, not run with its graph pre/post
        result = runtime.infer(image, confidence=True)
    assert labels.shape == (1, *size) and result.labels.shape == size
    assert len(np.unique(labels)) > 3  # the random network is not a constant map
    if size == (96, 128):  # the network's own size: no resize on either side, so the same numbers
        np.testing.assert_array_equal(result.labels, labels[0])
        np.testing.assert_allclose(result.confidence, confidence[0], atol=1e-5)
    else:  # OpenCV's uint8 resize vs the graph's float resize (one grey level) can flip a near-tie pixel
        assert np.mean(result.labels == labels[0]) > 0.99
        assert np.mean(np.abs(result.confidence - confidence[0])) < 0.01
