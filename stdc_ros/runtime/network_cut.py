"""The network cut out of a ``full`` graph at load time: find where the network starts and ends, extract it, and
drop the mirrored pass of a flip-averaged graph. The only graph surgery inference does; the rest (float16, batch
fixing, Q/DQ inspection) is model tooling in ``stdc_ros.model_tools.onnx_tools``.

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


def drop_mirror_pass(model: Any) -> Any:
    """A flip-averaged graph (``export_onnx(flip_average=True)``) without its mirrored pass: the network's single
    pass at half the cost, as a new checked ModelProto whose metadata says so.

    The averaged logits are ``Mul(Add(plain, Slice(mirrored)), 0.5)``, the Slice flipping the mirrored pass back.
    The Mul goes and the plain pass's logits take its tensor name, so every reader (post-processing, the graph
    output, the recorded network output) is unchanged; what no output needs any more (the mirrored pass) is pruned.
    ValueError when the graph is not flip-averaged or not shaped like that.
    """
    import onnx
    from onnx.utils import Extractor

    from .conventions import PREFIX

    props = {p.key: p.value for p in model.metadata_props}
    if props.get(PREFIX + "flip_average") != "true":
        raise ValueError("the model is not flip-averaged (stdc_ros.flip_average is not 'true')")
    outputs = [o.name for o in model.graph.output]
    averaged = props.get(PREFIX + "network_output") or (outputs[0] if len(outputs) == 1 else locate_network(model)[1])
    producer = {out: node for node in model.graph.node for out in node.output}
    mul = producer.get(averaged)
    adds = [producer[i] for i in (mul.input if mul is not None and mul.op_type == "Mul" else []) if i in producer]
    adds = [node for node in adds if node.op_type == "Add"]
    if len(adds) != 1:
        raise ValueError(f"{averaged} is not Mul(Add(plain, flipped), 0.5): not a flip-averaged network output")
    plain = [i for i in adds[0].input if i not in producer or producer[i].op_type != "Slice"]
    if len(plain) != 1:
        raise ValueError(f"cannot tell the plain pass from the mirrored one among {list(adds[0].input)}")
    single = onnx.ModelProto()
    single.CopyFrom(model)
    nodes = [node for node in single.graph.node if averaged not in node.output]
    for node in nodes:
        node.input[:] = [averaged if name == plain[0] else name for name in node.input]
        node.output[:] = [averaged if name == plain[0] else name for name in node.output]
    del single.graph.node[:]
    single.graph.node.extend(nodes)
    shapes = [v for v in single.graph.value_info if v.name != plain[0]]  # same shape as the averaged logits
    del single.graph.value_info[:]
    single.graph.value_info.extend(shapes)
    sub = Extractor(single).extract_model([i.name for i in single.graph.input], outputs)
    del sub.metadata_props[:]
    for key, value in {**props, PREFIX + "flip_average": "false"}.items():
        sub.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(sub)
    return sub
