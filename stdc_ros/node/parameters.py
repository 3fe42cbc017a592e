"""The node's parameters: one table of declarations, one validation function, one immutable NodeConfig.

Every value the node reads comes from a ``NodeConfig``. The on-set-parameters callback builds a new one from the
current values plus the requested changes and refuses the whole request with the reason when that fails, so a
change is applied completely or not at all; the node then swaps its reference to the new object.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from ..drivable.config import DrivableConfig, valid_frame_id
from ..labels import LabelSet, load_label_set
from ..parameter_field import declared_fields, parameter
from .model_choice import PRECISIONS

BACKENDS = ("onnxruntime", "tensorrt", "torch")
TRANSPORTS = ("raw", "compressed")
RELIABILITIES = ("best_effort", "reliable")
DRIVABLE_PREFIX = "drivable."
# Read-only informational parameters filled from the label file (not part of NodeConfig): {name: description}.
LABEL_PARAMETERS = {
    "labels.names": "class names by id, from the label file",
    "labels.colors": "class colours by id, flat [r, g, b, r, g, b, ...]",
}


@dataclass(frozen=True)
class NodeConfig:
    """Everything the node does, as one immutable value (swapped whole on every accepted parameter change).

    Each field is the declaration of its ROS parameter (name, default, range or choices, description, live or
    read-only): see stdc_ros.parameter_field.
    """

    # --- model and inference (read-only after start)
    model_path: str = parameter(
        "",
        "model file (.onnx, .engine or .pt); empty = the packaged model of the precision "
        "(int8: models/stdc1_camvid_int8.onnx, else models/stdc1_camvid.onnx)",
        read_only=True,
        doc="`.onnx` (onnxruntime), `.engine`/`.onnx` (tensorrt) or `.pt` (torch); empty = the packaged model of the "
        "precision: `models/stdc1_camvid_int8.onnx` for `int8`, else `models/stdc1_camvid.onnx`",
    )
    backend: str = parameter("onnxruntime", "inference backend", read_only=True, choices=BACKENDS)
    device: str = parameter(
        "cpu",
        "cpu, cuda, cuda:N, or tensorrt[:N] (onnxruntime's TensorRT provider)",
        read_only=True,
        doc="`cpu`, `cuda`, `cuda:N`; onnxruntime also `tensorrt[:N]` (its TensorRT provider)",
    )
    input_size: tuple[int, int] = parameter(
        (0, 0), "network input [height, width]; [0, 0] = the model's own", read_only=True
    )
    label_set: str = parameter(
        "camvid",
        "class names/colours: camvid, cityscapes or a label YAML",
        read_only=True,
        doc="`camvid`, `cityscapes` or a label YAML path (class names, colours, drivable classes)",
    )
    engine_cache_dir: str = parameter(
        "",
        "TensorRT engine cache folder (must be writable); empty = the backend's default",
        read_only=True,
    )
    precision: str = parameter(
        "auto",
        "auto = int8 for onnxruntime on a cpu with int8 dot products (VNNI, AMX, ARM dotprod), fp16 with TensorRT, "
        "else fp32; picks the packaged model",
        read_only=True,
        choices=PRECISIONS,
        doc="`auto` = `int8` for onnxruntime on a `cpu` with int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI, "
        "AMX, ARM dot product: the INT8 model ran at about 2x the FP32 speed at the same CamVid test mIoU, see "
        "`models/MODEL_CARD.md`; on an AVX2-only CPU it ran slower than FP32, so `fp32` there; the node logs which "
        "it chose and why), `fp16` with TensorRT (the tensorrt backend or `device:=tensorrt`), "
        "`fp32` otherwise (CUDA, torch). With `model_path` empty it picks the packaged model (`int8`: "
        "`models/stdc1_camvid_int8.onnx`, else `models/stdc1_camvid.onnx`); TensorRT builds its engine at this "
        "precision. `-p precision:=fp32` runs the FP32 model on the CPU",
    )  # resolved by model_choice.effective_precision
    threads: int = parameter(
        0, "CPU threads of the onnxruntime/torch backends; 0 = default", read_only=True, range=(0, 256)
    )
    dla_core: int = parameter(
        -1,
        "Jetson DLA core for TensorRT (backend or provider); -1 = GPU",
        read_only=True,
        range=(-1, 7),
        doc="Jetson DLA core for TensorRT: the tensorrt backend, or onnxruntime with `device:=tensorrt`; -1 = GPU "
        "only. DLA runs fp16/int8 layers (others fall back to the GPU); TensorRT 11 needs >= 11.4.1 for DLA",
    )
    allow_provider_fallback: bool = parameter(
        False,
        "onnxruntime: run on the next provider (TensorRT -> CUDA -> CPU) when the asked one is missing, with an "
        "ERROR and the reason in /diagnostics; false = configure fails",
        read_only=True,
        doc="onnxruntime: when the asked provider (`device` `cuda`/`tensorrt`) is missing or fails to start, run on "
        "the next one (TensorRT -> CUDA -> CPU) with an ERROR log and the reason in `/diagnostics`; `false`: "
        "configure fails naming the installed providers",
    )
    test_time_flip: bool = parameter(
        True,
        "onnxruntime: run a flip-averaged model's mirrored pass too; false = single pass, half the cost",
        read_only=True,
        doc="onnxruntime: run a flip-averaged export (`stdc-ros export --flip-average`) with its mirrored pass; "
        "`false` cuts that pass out at load time: single pass, half the cost, lower mIoU (see the model card). The "
        "packaged model is single-pass already",
    )
    # --- input (read-only)
    image_transport: str = parameter(
        "raw",
        "raw: subscribe ~/in/image; compressed: ~/in/image/compressed",
        read_only=True,
        choices=TRANSPORTS,
        doc="`raw` subscribes `~/in/image`, `compressed` subscribes `~/in/image/compressed`",
    )
    qos_reliability: str = parameter(
        "best_effort",
        "input QoS reliability: best_effort matches every camera driver, reliable loses nothing but may lag",
        name="qos.reliability",
        read_only=True,
        choices=RELIABILITIES,
    )
    qos_depth: int = parameter(
        1,
        "input and output QoS history depth (1 = newest frame only)",
        name="qos.depth",
        read_only=True,
        range=(1, 1000),
    )
    autostart: bool = parameter(
        False,
        "configure and activate at start (no lifecycle manager)",
        read_only=True,
        doc="configure and activate at start, without a lifecycle manager (the launch file's `autostart` is `true`)",
    )
    # --- outputs (tunable while running)
    overlay_alpha: float = parameter(
        0.5, "weight of the class colours in ~/out/overlay", name="overlay.alpha", range=(0.0, 1.0)
    )
    publish_labels: bool = parameter(True, "publish ~/out/labels (mono8 class ids)", name="publish.labels")
    publish_labels_png: bool = parameter(
        True, "publish ~/out/labels/compressed (lossless PNG)", name="publish.labels_png"
    )
    publish_color: bool = parameter(True, "publish ~/out/color (rgb8 class colours)", name="publish.color")
    publish_overlay: bool = parameter(True, "publish ~/out/overlay (rgb8 blend over the image)", name="publish.overlay")
    publish_camera_info: bool = parameter(
        True, "publish ~/out/camera_info matching the masks", name="publish.camera_info"
    )
    min_confidence: float = parameter(
        0.0, "pixels whose class probability is below this get id 255 (unknown); 0 = off", range=(0.0, 1.0)
    )
    max_image_pixels: int = parameter(
        4096 * 4096, "input images with more pixels are rejected (counted as bad frames)", range=(1, 1 << 30)
    )
    # --- diagnostics (tunable while running)
    no_input_timeout: float = parameter(
        5.0,
        "seconds without input before diagnostics WARN",
        name="diagnostics.no_input_timeout",
        range=(0.1, 3600.0),
        doc="seconds without input before the status WARNs (and a log line explains why)",
    )
    latency_warn_ms: float = parameter(
        1000.0,
        "pipeline latency p50 above which diagnostics WARN; 0 = off",
        name="diagnostics.latency_warn_ms",
        range=(0.0, 1.0e6),
    )
    # --- drivable geometry sources (tunable while running)
    rectified: bool = parameter(
        False,
        "the input images are rectified: the drivable geometry uses camera_info P instead of K",
        doc="the input images are rectified: the drivable grid and scan use camera_info `P` instead of `K` (see "
        "Camera model below)",
    )
    tf_enabled: bool = parameter(
        True,
        "drivable geometry: camera pose from TF (tf2_ros) at the image stamp",
        name="tf.enabled",
        doc="take the camera pose for the drivable grid and scan from TF where `tf2_ros` is installed; the "
        "`drivable.camera_*` values are the fallback",
    )
    tf_camera_frame: str = parameter(
        "",
        "optical frame of the camera in TF; empty = the image header's frame_id",
        name="tf.camera_frame",
    )
    tf_timeout: float = parameter(
        0.05, "seconds to wait for the camera's transform per frame", name="tf.timeout", range=(0.0, 10.0)
    )
    drivable: DrivableConfig = field(default_factory=DrivableConfig)  # the drivable.<field> parameters

    @property
    def network_input_size(self) -> tuple[int, int] | None:
        """(height, width) to run the network at, or None for the model's own size."""
        return None if self.input_size == (0, 0) else self.input_size


@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter: its name, the NodeConfig field it fills, its description and constraints."""

    name: str
    attr: str
    description: str
    read_only: bool = False
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()
    doc: str = ""  # longer markdown text for docs/node.md; empty = the description

    def descriptor(self, value: Any) -> ParameterDescriptor:
        text = self.description + (f" (one of: {', '.join(self.choices)})" if self.choices else "")
        descriptor = ParameterDescriptor(name=self.name, description=text, read_only=self.read_only)
        if self.choices:
            descriptor.additional_constraints = f"one of {', '.join(self.choices)}"
        if self.range is not None and not isinstance(value, (bool, list, tuple, str)):
            low, high = self.range
            if isinstance(value, int):
                descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=0)]
            else:
                descriptor.floating_point_range = [FloatingPointRange(from_value=low, to_value=high, step=0.0)]
        elif self.range is not None:
            descriptor.additional_constraints = f"each value in [{self.range[0]:g}, {self.range[1]:g}]"
        return descriptor


def _specs(cls: type, prefix: str = "") -> tuple[ParamSpec, ...]:
    """The ParamSpecs of a config dataclass, from its fields' declarations (ranges as floats)."""
    return tuple(
        ParamSpec(
            name=prefix + (info.name or f.name),
            attr=f.name,
            description=info.description,
            read_only=info.read_only,
            range=None if info.range is None else (float(info.range[0]), float(info.range[1])),
            choices=info.choices,
            doc=info.doc,
        )
        for f, info in declared_fields(cls)
    )


NODE_PARAMETERS: tuple[ParamSpec, ...] = _specs(NodeConfig)


def drivable_parameters() -> tuple[ParamSpec, ...]:
    """``drivable.<field>`` for every DrivableConfig field, from its declaration."""
    return _specs(DrivableConfig, DRIVABLE_PREFIX)


def all_parameters() -> tuple[ParamSpec, ...]:
    return NODE_PARAMETERS + drivable_parameters()


def _ros_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def default_values(label_set: LabelSet | None = None) -> dict[str, Any]:
    """{parameter name: default}; the drivable classes default to the label set's own drivable classes."""
    base = NodeConfig()
    values = {spec.name: _ros_value(getattr(base, spec.attr)) for spec in NODE_PARAMETERS}
    drivable = base.drivable.to_mapping()
    if label_set is not None and label_set.drivable:
        drivable["drivable_classes"] = list(label_set.drivable)
    values.update({DRIVABLE_PREFIX + k: _ros_value(v) for k, v in drivable.items()})
    return values


def build_config(values: Mapping[str, Any]) -> NodeConfig:
    """A validated NodeConfig from {parameter name: value}; ValueError naming the parameter and why."""
    kwargs: dict[str, Any] = {}
    base = NodeConfig()
    for spec in NODE_PARAMETERS:
        value = values.get(spec.name, getattr(base, spec.attr))
        kwargs[spec.attr] = _check(spec, getattr(base, spec.attr), value)
    size = kwargs["input_size"]
    if size != (0, 0) and min(size) < 8:
        raise ValueError(f"input_size = {list(size)} must be [0, 0] (model default) or [height, width], each >= 8")
    device = kwargs["device"]
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda", "tensorrt") or (index and not index.isdigit()) or (kind == "cpu" and index):
        raise ValueError(f"device = {device!r} must be cpu, cuda, cuda:N or (onnxruntime) tensorrt[:N]")
    if kwargs["tf_camera_frame"] and not valid_frame_id(kwargs["tf_camera_frame"]):
        raise ValueError(f"tf.camera_frame = {kwargs['tf_camera_frame']!r} is not a valid frame id (no leading '/')")
    drivable = {
        name[len(DRIVABLE_PREFIX) :]: value for name, value in values.items() if name.startswith(DRIVABLE_PREFIX)
    }
    try:
        kwargs["drivable"] = DrivableConfig.from_mapping(drivable)
    except ValueError as exc:
        raise ValueError(f"drivable.{exc}") from exc
    return NodeConfig(**kwargs)


def _check(spec: ParamSpec, default: Any, value: Any) -> Any:
    """Coerce ``value`` to the type of ``default`` and check choices and range."""
    name = spec.name
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if isinstance(default, tuple):
        try:
            items = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a list of integers, got {value!r}") from None
        if len(items) != len(default):
            raise ValueError(f"{name} must have {len(default)} values, got {list(items)}")
        return items
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
        if spec.choices and value not in spec.choices:
            raise ValueError(f"{name} = {value!r} is not one of {', '.join(spec.choices)}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if isinstance(default, int) and not float(value).is_integer():
        raise ValueError(f"{name} must be an integer, got {value!r}")
    number = int(value) if isinstance(default, int) else float(value)
    if spec.range is not None and not spec.range[0] <= number <= spec.range[1]:
        raise ValueError(f"{name} = {number} is outside [{spec.range[0]:g}, {spec.range[1]:g}] ({spec.description})")
    return number


@dataclass(frozen=True)
class Declared:
    """What ``declare_parameters`` found: the values, and the label set (or why it could not be loaded)."""

    values: dict[str, Any]
    label_set: LabelSet | None
    label_error: str = ""


def declare_parameters(node: Node) -> Declared:
    """Declare every parameter with its descriptor, plus read-only ``labels.names`` / ``labels.colors``.

    ``label_set`` is declared first: its label file gives the class names, colours and default drivable classes.
    """
    specs = {spec.name: spec for spec in all_parameters()}
    base = NodeConfig()
    label_param = node.declare_parameter("label_set", base.label_set, specs["label_set"].descriptor(base.label_set))
    label_set, label_error = None, ""
    try:
        label_set = load_label_set(label_param.value)
    except (OSError, ValueError) as exc:
        label_error = f"label_set {label_param.value!r}: {exc}"
    values = {"label_set": label_param.value}
    for name, default in default_values(label_set).items():
        if name != "label_set":
            values[name] = node.declare_parameter(name, default, specs[name].descriptor(default)).value
    names = list(label_set.names) if label_set else []
    colors = [v for c in label_set.colors for v in c] if label_set else []
    node.declare_parameter(
        "labels.names",
        names if names else Parameter.Type.STRING_ARRAY,
        ParameterDescriptor(description=LABEL_PARAMETERS["labels.names"], read_only=True),
        ignore_override=True,
    )
    node.declare_parameter(
        "labels.colors",
        colors if colors else Parameter.Type.INTEGER_ARRAY,
        ParameterDescriptor(description=LABEL_PARAMETERS["labels.colors"], read_only=True),
        ignore_override=True,
    )
    return Declared(values, label_set, label_error)


def current_values(node: Node) -> dict[str, Any]:
    """{name: value} of every parameter this module declares, read back from the node."""
    names = [spec.name for spec in all_parameters()]
    return {p.name: p.value for p in node.get_parameters(names)}


def to_float_if_needed(node: Node, parameters: list[Parameter]) -> list[Parameter]:
    """Accept ``5`` for a double parameter (``ros2 param set x 5`` sends an integer); the node applies it before
    rclpy's type check (which refuses an integer for a double on every distribution, Humble has no pre-set hook)."""
    fixed = []
    for p in parameters:
        if (
            p.type_ == Parameter.Type.INTEGER
            and node.has_parameter(p.name)
            and node.get_parameter(p.name).type_ == Parameter.Type.DOUBLE
        ):
            p = Parameter(p.name, Parameter.Type.DOUBLE, float(p.value))
        fixed.append(p)
    return fixed
