"""The node's parameters: one table of declarations, one validation function, one immutable NodeConfig.

Every value the node reads comes from a ``NodeConfig``. The on-set-parameters callback builds a new one from the
current values plus the requested changes and refuses the whole request with the reason when that fails, so a
change is applied completely or not at all; the node then swaps its reference to the new object.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from ..drivable.config import PARAMETER_RANGES as DRIVABLE_RANGES
from ..drivable.config import DrivableConfig, valid_frame_id
from ..labels import LabelSet, load_label_set
from .model_choice import PRECISIONS

BACKENDS = ("onnxruntime", "tensorrt", "torch")
TRANSPORTS = ("raw", "compressed")
RELIABILITIES = ("best_effort", "reliable")
DRIVABLE_PREFIX = "drivable."


@dataclass(frozen=True)
class NodeConfig:
    """Everything the node does, as one immutable value (swapped whole on every accepted parameter change)."""

    # --- read-only after start
    model_path: str = ""
    backend: str = "onnxruntime"
    device: str = "cpu"
    input_size: tuple[int, int] = (0, 0)
    label_set: str = "camvid"
    engine_cache_dir: str = ""
    precision: str = "auto"  # model_choice.effective_precision: int8 on the onnxruntime CPU, fp16 with TensorRT
    threads: int = 0
    dla_core: int = -1
    allow_provider_fallback: bool = False
    test_time_flip: bool = True
    image_transport: str = "raw"
    qos_reliability: str = "best_effort"
    qos_depth: int = 1
    autostart: bool = False
    # --- tunable while running
    overlay_alpha: float = 0.5
    publish_labels: bool = True
    publish_labels_png: bool = True
    publish_color: bool = True
    publish_overlay: bool = True
    publish_camera_info: bool = True
    min_confidence: float = 0.0
    max_image_pixels: int = 4096 * 4096
    no_input_timeout: float = 5.0
    latency_warn_ms: float = 1000.0
    rectified: bool = False
    tf_enabled: bool = True
    tf_camera_frame: str = ""
    tf_timeout: float = 0.05
    drivable: DrivableConfig = field(default_factory=DrivableConfig)

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


_MODEL_HELP = (
    "model file (.onnx, .engine or .pt); empty = the packaged model of the precision "
    "(int8: models/stdc1_camvid_int8.onnx, else models/stdc1_camvid.onnx)"
)
NODE_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("model_path", "model_path", _MODEL_HELP, read_only=True),
    ParamSpec("backend", "backend", "inference backend", read_only=True, choices=BACKENDS),
    ParamSpec("device", "device", "device of the torch/tensorrt backends: cpu, cuda or cuda:N", read_only=True),
    ParamSpec("input_size", "input_size", "network input [height, width]; [0, 0] = the model's own", read_only=True),
    ParamSpec("label_set", "label_set", "class names/colours: camvid, cityscapes or a label YAML", read_only=True),
    ParamSpec("engine_cache_dir", "engine_cache_dir", "TensorRT engine cache folder; empty = default", read_only=True),
    ParamSpec(
        "precision",
        "precision",
        "auto = int8 for onnxruntime on cpu, fp16 with TensorRT, else fp32; picks the packaged model",
        read_only=True,
        choices=PRECISIONS,
    ),
    ParamSpec("threads", "threads", "CPU threads of the onnxruntime/torch backends; 0 = default", True, (0, 256)),
    ParamSpec("dla_core", "dla_core", "Jetson DLA core for TensorRT (backend or provider); -1 = GPU", True, (-1, 7)),
    ParamSpec(
        "allow_provider_fallback",
        "allow_provider_fallback",
        "onnxruntime: run on the next provider (TensorRT -> CUDA -> CPU) when the asked one is missing, with an "
        "ERROR and the reason in /diagnostics; false = configure fails",
        read_only=True,
    ),
    ParamSpec(
        "test_time_flip",
        "test_time_flip",
        "onnxruntime: run a flip-averaged model's mirrored pass too; false = single pass, half the cost",
        read_only=True,
    ),
    ParamSpec(
        "image_transport",
        "image_transport",
        "raw: subscribe ~/in/image; compressed: ~/in/image/compressed",
        read_only=True,
        choices=TRANSPORTS,
    ),
    ParamSpec(
        "qos.reliability",
        "qos_reliability",
        "input QoS reliability (best_effort matches every camera driver)",
        read_only=True,
        choices=RELIABILITIES,
    ),
    ParamSpec("qos.depth", "qos_depth", "input and output QoS history depth", read_only=True, range=(1, 1000)),
    ParamSpec("autostart", "autostart", "configure and activate at start (no lifecycle manager)", read_only=True),
    ParamSpec("overlay.alpha", "overlay_alpha", "weight of the class colours in ~/out/overlay", range=(0.0, 1.0)),
    ParamSpec("publish.labels", "publish_labels", "publish ~/out/labels (mono8 class ids)"),
    ParamSpec("publish.labels_png", "publish_labels_png", "publish ~/out/labels/compressed (lossless PNG)"),
    ParamSpec("publish.color", "publish_color", "publish ~/out/color (rgb8 class colours)"),
    ParamSpec("publish.overlay", "publish_overlay", "publish ~/out/overlay (rgb8 blend over the image)"),
    ParamSpec("publish.camera_info", "publish_camera_info", "publish ~/out/camera_info matching the masks"),
    ParamSpec(
        "min_confidence",
        "min_confidence",
        "pixels whose class probability is below this get id 255 (unknown); 0 = off",
        range=(0.0, 1.0),
    ),
    ParamSpec("max_image_pixels", "max_image_pixels", "reject larger input images (pixels)", range=(1, 1 << 30)),
    ParamSpec(
        "diagnostics.no_input_timeout",
        "no_input_timeout",
        "seconds without input before diagnostics WARN",
        range=(0.1, 3600.0),
    ),
    ParamSpec(
        "diagnostics.latency_warn_ms",
        "latency_warn_ms",
        "pipeline latency p50 above which diagnostics WARN; 0 = off",
        range=(0.0, 1.0e6),
    ),
    ParamSpec(
        "rectified",
        "rectified",
        "the input images are rectified: the drivable geometry uses camera_info P instead of K",
    ),
    ParamSpec("tf.enabled", "tf_enabled", "drivable geometry: camera pose from TF (tf2_ros) at the image stamp"),
    ParamSpec(
        "tf.camera_frame",
        "tf_camera_frame",
        "optical frame of the camera in TF; empty = the image header's frame_id",
    ),
    ParamSpec("tf.timeout", "tf_timeout", "seconds to wait for the camera's transform per frame", range=(0.0, 10.0)),
)

_DRIVABLE_TEXT = {
    "ego_connected": "keep only the drivable region connected to the ego seed at the bottom of the image",
    "ground_frame": "frame id of the drivable grid (REP-103 ground frame below the vehicle)",
    "scan_frame": "frame id of the free-space scan; empty = ground_frame",
}


def drivable_parameters() -> tuple[ParamSpec, ...]:
    """``drivable.<field>`` for every DrivableConfig field, ranges and descriptions from its PARAMETER_RANGES."""
    specs = []
    for f in dataclasses.fields(DrivableConfig):
        low, high, text = DRIVABLE_RANGES.get(f.name, (None, None, _DRIVABLE_TEXT.get(f.name, f.name)))
        limits = None if low is None else (float(low), float(high))  # type: ignore[arg-type]
        specs.append(ParamSpec(DRIVABLE_PREFIX + f.name, f.name, text, range=limits))
    return tuple(specs)


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
        ParameterDescriptor(description="class names by id, from the label file", read_only=True),
        ignore_override=True,
    )
    node.declare_parameter(
        "labels.colors",
        colors if colors else Parameter.Type.INTEGER_ARRAY,
        ParameterDescriptor(description="class colours by id, flat [r, g, b, r, g, b, ...]", read_only=True),
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
