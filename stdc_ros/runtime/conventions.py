"""The two ONNX conventions and the metadata every exported model carries (pure Python, no torch).

``full``: input ``image`` uint8 [N, H, W, 3] RGB (N, H, W dynamic); the graph resizes to the network input size,
normalises, runs the network, takes the per-pixel argmax and softmax maximum, and resizes both back to (H, W)
nearest. Outputs ``labels`` uint8 [N, H, W] and ``confidence`` float32 [N, H, W].

``raw``: input ``input`` float32 [N, 3, h, w] normalised, output ``logits`` float32 [N, C, h, w]; (h, w) is
fixed to the network input size. Used by TensorRT and to time the pure network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelFileError
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD

FORMAT_FULL = "full"
FORMAT_RAW = "raw"
FORMATS = (FORMAT_FULL, FORMAT_RAW)

# Tensor names of each convention: (inputs, outputs).
FULL_INPUT, FULL_OUTPUTS = "image", ("labels", "confidence")
RAW_INPUT, RAW_OUTPUT = "input", "logits"

PREFIX = "stdc_ros."
DEFAULT_INPUT_SIZE = (360, 480)  # CamVid's native resolution, the size the shipped model is trained at


def format_size(size: tuple[int, int]) -> str:
    return f"{int(size[0])}x{int(size[1])}"


def parse_size(text: str) -> tuple[int, int]:
    """``"360x480"`` -> (360, 480); ValueError for anything else."""
    parts = text.lower().replace(",", "x").split("x")
    if len(parts) != 2:
        raise ValueError(f"size must be HEIGHTxWIDTH, got {text!r}")
    h, w = (int(p) for p in parts)
    if h < 8 or w < 8:
        raise ValueError(f"size must be at least 8x8, got {text!r}")
    return h, w


@dataclass(frozen=True)
class ModelMetadata:
    """What a runtime needs to know about an exported model, stored as ONNX ``metadata_props``."""

    format: str
    input_size: tuple[int, int]  # (height, width) the network runs at
    num_classes: int
    variant: str = "stdc1"
    label_set: str | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    precision: str = "fp32"  # weights and arithmetic inside the graph; I/O stays float32 / uint8
    flip_average: bool = False  # the network averages its logits with the mirrored image's (2x the cost)
    # full graphs: the tensors between pre-processing, network and post-processing, so a runtime can cut the
    # network out and run pre/post-processing its own (faster) way
    network_input: str | None = None
    network_output: str | None = None

    def to_props(self) -> dict[str, str]:
        return {
            PREFIX + "format": self.format,
            PREFIX + "input_size": format_size(self.input_size),
            PREFIX + "num_classes": str(self.num_classes),
            PREFIX + "variant": self.variant,
            PREFIX + "label_set": self.label_set or "",
            PREFIX + "mean": ",".join(f"{v:g}" for v in self.mean),
            PREFIX + "std": ",".join(f"{v:g}" for v in self.std),
            PREFIX + "precision": self.precision,
            PREFIX + "flip_average": "true" if self.flip_average else "false",
            **({PREFIX + "network_input": self.network_input} if self.network_input else {}),
            **({PREFIX + "network_output": self.network_output} if self.network_output else {}),
        }

    @classmethod
    def from_props(cls, props: Mapping[str, str], source: Path) -> ModelMetadata:
        """Parse ``metadata_props``; ModelFileError naming ``source`` when they are missing or malformed."""
        if PREFIX + "format" not in props:
            raise ModelFileError(
                f"{source} has no stdc_ros metadata (stdc_ros.format); export it with `stdc-ros export`"
            )
        try:
            fmt = props[PREFIX + "format"]
            if fmt not in FORMATS:
                raise ValueError(f"unknown format {fmt!r}, expected one of {FORMATS}")
            mean = _floats(props.get(PREFIX + "mean"), IMAGENET_MEAN)
            std = _floats(props.get(PREFIX + "std"), IMAGENET_STD)
            if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
                raise ValueError(f"mean/std must be three values with std > 0, got {mean} / {std}")
            num_classes = int(props[PREFIX + "num_classes"])
            if not 1 <= num_classes <= 255:
                raise ValueError(f"num_classes must be in 1..255 for uint8 labels, got {num_classes}")
            return cls(
                format=fmt,
                input_size=parse_size(props[PREFIX + "input_size"]),
                num_classes=num_classes,
                variant=props.get(PREFIX + "variant", "stdc1"),
                label_set=props.get(PREFIX + "label_set") or None,
                mean=mean,  # type: ignore[arg-type]
                std=std,  # type: ignore[arg-type]
                precision=props.get(PREFIX + "precision", "fp32"),
                flip_average=_flag(props.get(PREFIX + "flip_average", "false")),
                network_input=props.get(PREFIX + "network_input") or None,
                network_output=props.get(PREFIX + "network_output") or None,
            )
        except (KeyError, ValueError) as exc:
            raise ModelFileError(f"{source} has malformed stdc_ros metadata: {exc}") from exc


def read_model_metadata(path: Path) -> ModelMetadata:
    """The stdc_ros metadata of an ONNX file; ModelFileError naming the file when missing, corrupt or foreign.

    Reads with ``onnx`` when installed (no session, no graph checks), else with an ONNX Runtime session.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"ONNX model not found: {path}")
    try:
        try:
            import onnx
        except ImportError:
            import onnxruntime

            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            props = dict(session.get_modelmeta().custom_metadata_map)
        else:
            proto = onnx.load_model(str(path), load_external_data=False)
            props = {p.key: p.value for p in proto.metadata_props}
    except Exception as exc:  # protobuf DecodeError, onnx and onnxruntime errors: the file is not a usable ONNX
        raise ModelFileError(f"cannot read ONNX model {path}: {type(exc).__name__}: {exc}") from exc
    return ModelMetadata.from_props(props, path)


def _floats(text: str | None, default: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",")) if text else default


def _flag(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"flip_average must be 'true' or 'false', got {text!r}")
    return text == "true"


def normalisation_affine(
    mean: tuple[float, ...], std: tuple[float, ...]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(x / 255 - mean) / std == x * scale + offset, per channel: one multiply-add instead of three ops."""
    scale = tuple(1.0 / (255.0 * s) for s in std)
    offset = tuple(-m / s for m, s in zip(mean, std, strict=True))
    return scale, offset
