"""ONNX graph surgery for ``full`` graphs: find the network between pre- and post-processing and cut it out.

Needs the ``onnx`` package; callers treat ImportError or ValueError as "keep running the whole graph".
"""

from __future__ import annotations

from typing import Any


def locate_network(model: Any) -> tuple[str, str]:
    """(network input, network output) tensor names of a ``full`` graph exported by ``export_onnx``.

    Pre-processing has no convolution and post-processing starts with the only ArgMax, so the network runs from
    the first Conv's data input to the ArgMax's input. Raises ValueError when the graph does not look like that.
    """
    nodes = list(model.graph.node)
    convs = [n for n in nodes if n.op_type == "Conv"]
    argmaxes = [n for n in nodes if n.op_type == "ArgMax"]
    if not convs or len(argmaxes) != 1:
        raise ValueError(f"expected convolutions and one ArgMax, found {len(convs)} Conv and {len(argmaxes)} ArgMax")
    graph_inputs = {i.name for i in model.graph.input}
    start, end = convs[0].input[0], argmaxes[0].input[0]
    if start in graph_inputs or end in graph_inputs:
        raise ValueError("the network boundary is a graph input: not a full graph")
    return start, end


def extract_network(model: Any, input_name: str, output_name: str) -> Any:
    """The sub-model from ``input_name`` to ``output_name`` as a checked ModelProto.

    The exporter computes the dynamic batch size once, from the graph input, and the network reuses it (for its
    resizes); such ``Shape`` nodes are re-pointed at the network input, which has the same batch size. Any other
    use of a graph input inside the network raises ValueError.
    """
    import onnx
    from onnx.utils import Extractor

    sub = Extractor(model).extract_model([input_name], [output_name])
    outer_inputs = {i.name for i in model.graph.input} - {input_name}
    for node in sub.graph.node:
        for i, name in enumerate(node.input):
            if name not in outer_inputs:
                continue
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type != "Shape" or attrs.get("start", 0) != 0 or attrs.get("end") != 1:
                raise ValueError(f"node {node.name} ({node.op_type}) of the network reads the graph input {name}")
            node.input[i] = input_name  # the batch dimension is the same on both
    del sub.metadata_props[:]
    onnx.checker.check_model(sub)
    return sub
