"""A tiny model in the ``full`` ONNX convention, written with the onnx package alone (no torch).

Where torch is missing (.venv-jazzy, a ROS 2 install running ``colcon test``) the tests cannot export the tiny STDC
checkpoint, yet the ONNX Runtime and node tests need a small, fast model. This graph has the exported files' exact
pre/post-processing (the same ops and attributes as ``stdc-ros export``: bilinear half-pixel resize to the network
size, ``x * scale + offset``, argmax and max softmax, nearest asymmetric resize back) around a two-convolution
network, and the same metadata, so a runtime can cut the network out as it does for the shipped model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stdc_ros.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from stdc_ros.runtime.conventions import FORMAT_FULL, FULL_INPUT, FULL_OUTPUTS, ModelMetadata, normalisation_affine

NETWORK_INPUT, NETWORK_OUTPUT = "normalised", "logits"
OPSET, IR_VERSION = 18, 8  # IR 8 for opset 18: readable by the ONNX Runtime of either test environment


def write_tiny_full_onnx(
    path: Path, input_size: tuple[int, int] = (96, 128), num_classes: int = 11, seed: int = 0
) -> Path:
    """Write the tiny model (network input ``input_size``, stride-2 convolution, 1x1 classifier) to ``path``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    h, w = int(input_size[0]), int(input_size[1])
    scale, offset = normalisation_affine(IMAGENET_MEAN, IMAGENET_STD)

    def const(name: str, values: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(values), name)

    initializers = [
        const("scale", np.array(scale, np.float32).reshape(1, 3, 1, 1)),
        const("offset", np.array(offset, np.float32).reshape(1, 3, 1, 1)),
        const("network_size", np.array([h, w], np.int64)),
        const("axis_1", np.array([1], np.int64)),
        const("upsample", np.array([1.0, 1.0, 2.0, 2.0], np.float32)),
        const("w1", rng.normal(0.0, 0.5, (8, 3, 3, 3)).astype(np.float32)),
        const("b1", rng.normal(0.0, 0.1, 8).astype(np.float32)),
        const("w2", rng.normal(0.0, 1.0, (num_classes, 8, 1, 1)).astype(np.float32)),
        const("b2", rng.normal(0.0, 0.1, num_classes).astype(np.float32)),
    ]
    linear = {"mode": "linear", "coordinate_transformation_mode": "half_pixel", "antialias": 0}
    nearest = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    nodes = [
        # pre-processing: uint8 NHWC -> float NCHW at the network size, normalised
        helper.make_node("Shape", [FULL_INPUT], ["image_hw"], start=1, end=3),
        helper.make_node("Transpose", [FULL_INPUT], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Cast", ["nchw"], ["nchw_float"], to=TensorProto.FLOAT),
        helper.make_node("Shape", ["nchw_float"], ["batch_channels"], start=0, end=2),
        helper.make_node("Concat", ["batch_channels", "network_size"], ["pre_sizes"], axis=0),
        helper.make_node("Resize", ["nchw_float", "", "", "pre_sizes"], ["resized"], **linear),
        helper.make_node("Mul", ["resized", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "offset"], [NETWORK_INPUT]),
        # network: logits at the network input size, as STDC's
        helper.make_node("Conv", [NETWORK_INPUT, "w1", "b1"], ["features"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["features"], ["activated"]),
        helper.make_node("Conv", ["activated", "w2", "b2"], ["class_scores"]),
        helper.make_node("Resize", ["class_scores", "", "upsample"], [NETWORK_OUTPUT], **linear),
        # post-processing: argmax and max softmax, nearest back to the image size
        helper.make_node("ReduceMax", [NETWORK_OUTPUT, "axis_1"], ["top"], keepdims=1),
        helper.make_node("ArgMax", [NETWORK_OUTPUT], ["argmax"], axis=1, keepdims=1),
        helper.make_node("Sub", [NETWORK_OUTPUT, "top"], ["shifted"]),
        helper.make_node("Exp", ["shifted"], ["exponentials"]),
        helper.make_node("ReduceSum", ["exponentials", "axis_1"], ["partition"], keepdims=1),
        helper.make_node("Reciprocal", ["partition"], ["max_softmax"]),
        helper.make_node("Cast", ["argmax"], ["argmax_u8"], to=TensorProto.UINT8),
        helper.make_node("Shape", ["argmax_u8"], ["batch_one"], start=0, end=2),
        helper.make_node("Concat", ["batch_one", "image_hw"], ["post_sizes"], axis=0),
        helper.make_node("Resize", ["argmax_u8", "", "", "post_sizes"], ["labels_4d"], **nearest),
        helper.make_node("Resize", ["max_softmax", "", "", "post_sizes"], ["confidence_4d"], **nearest),
        helper.make_node("Squeeze", ["labels_4d", "axis_1"], [FULL_OUTPUTS[0]]),
        helper.make_node("Squeeze", ["confidence_4d", "axis_1"], [FULL_OUTPUTS[1]]),
    ]
    dims = ["batch", "height", "width"]
    graph = helper.make_graph(
        nodes,
        "tiny_full",
        [helper.make_tensor_value_info(FULL_INPUT, TensorProto.UINT8, [*dims, 3])],
        [
            helper.make_tensor_value_info(FULL_OUTPUTS[0], TensorProto.UINT8, dims),
            helper.make_tensor_value_info(FULL_OUTPUTS[1], TensorProto.FLOAT, dims),
        ],
        initializers,
        # the network's ends have static sizes, as in exported files (shape inference cannot see through Resize)
        value_info=[
            helper.make_tensor_value_info(NETWORK_INPUT, TensorProto.FLOAT, ["batch", 3, h, w]),
            helper.make_tensor_value_info(NETWORK_OUTPUT, TensorProto.FLOAT, ["batch", num_classes, h, w]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    meta = ModelMetadata(
        format=FORMAT_FULL,
        input_size=(h, w),
        num_classes=num_classes,
        variant="tiny",
        label_set="camvid",
        network_input=NETWORK_INPUT,
        network_output=NETWORK_OUTPUT,
    )
    for key, value in meta.to_props().items():
        model.metadata_props.add(key=key, value=value)
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return path
