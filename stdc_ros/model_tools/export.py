"""`stdc-ros export`: torch checkpoint -> one self-contained ONNX file, checked with onnx.checker and against torch.

Exporter: the torch.export-based exporter (``torch.onnx.export(..., dynamo=True)``, the default since torch 2.9
and present with the same arguments in 2.11 and 2.14). The TorchScript exporter (``dynamo=False``) is deprecated
and warns on every call. The ONNX proto is taken from the exporter, metadata is added, and it is written with
``onnx.save_model`` without external data, so the model is always one file (weights of STDC2 are ~50 MB,
far below protobuf's 2 GB limit).

Opset 18 (the exporter's default and oldest well-supported opset; ONNX Runtime >= 1.14 and TensorRT >= 10 run
it; TensorRT 8.6 (JetPack 6.0) reads opset 17 at most, and the tensorrt backend refuses TensorRT < 10 by name).
Dynamic shapes: ``full`` graphs have batch, height and width dynamic (any camera resolution, one file);
``raw`` graphs have only the batch dynamic and the network input size fixed, which lets ONNX Runtime fold shapes
and gives TensorRT a single-shape optimisation profile.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ..runtime.conventions import (
    DEFAULT_INPUT_SIZE,
    FORMAT_FULL,
    FORMAT_RAW,
    FULL_INPUT,
    FULL_OUTPUTS,
    RAW_INPUT,
    RAW_OUTPUT,
    ModelMetadata,
    format_size,
    parse_size,
)

if TYPE_CHECKING:  # torch stays a lazy import: `stdc-ros` must start without it
    from ..network import STDCSeg
    from .agreement import AgreementReport

log = logging.getLogger(__name__)

DEFAULT_OPSET = 18


def export_onnx(
    model: STDCSeg,
    path: Path,
    input_size: tuple[int, int],
    label_set: str | None = None,
    embed_pre_post: bool = True,
    opset: int = DEFAULT_OPSET,
    half: bool = False,
    flip_average: bool = False,
) -> Path:
    """Export ``model`` to ``path`` in the ``full`` (``embed_pre_post``) or ``raw`` convention; returns ``path``.

    ``half`` (raw only) converts the exported network to mixed float16 (``onnx_tools.convert_float16``: float32
    I/O and reductions) for strongly typed TensorRT FP16 builds; the tensorrt backend makes the same conversion
    itself from the float32 model, so this is only needed to inspect or ship the float16 file.
    ``flip_average`` averages the logits with the mirrored image's inside the network (test-time flip:
    mirror-symmetric predictions for twice the cost). The file is written atomically and validated with
    ``onnx.checker`` before it replaces ``path``.
    """
    import onnx
    import torch

    from ..runtime.graph import FlipAveraged, FullGraph

    path = Path(path)
    h, w = int(input_size[0]), int(input_size[1])
    if half and embed_pre_post:
        raise ValueError("half precision export is for raw graphs (TensorRT); use embed_pre_post=False")
    network = copy.deepcopy(model).eval().cpu().float()
    if flip_average:
        network = FlipAveraged(network).eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    if embed_pre_post:
        module: torch.nn.Module = FullGraph(network, (h, w), IMAGENET_MEAN, IMAGENET_STD).eval()
        # Sample size differs from the network size so no guard can tie H, W to it; batch 2 avoids the
        # exporter's specialisation of size-1 dimensions.
        sample = torch.randint(0, 256, (2, h + 7, w + 5, 3), dtype=torch.uint8)
        height, width = torch.export.Dim("height", min=2, max=8192), torch.export.Dim("width", min=2, max=8192)
        dynamic_shapes: tuple = ({0: batch, 1: height, 2: width},)
        input_names, output_names = [FULL_INPUT], list(FULL_OUTPUTS)
        fmt = FORMAT_FULL
    else:
        module = network
        sample = torch.randn(2, 3, h, w)
        dynamic_shapes = ({0: batch},)
        input_names, output_names = [RAW_INPUT], [RAW_OUTPUT]
        fmt = FORMAT_RAW
    meta = ModelMetadata(
        format=fmt,
        input_size=(h, w),
        num_classes=int(model.num_classes),
        variant=str(model.variant),
        label_set=label_set,
        precision="fp16" if half else "fp32",
        flip_average=flip_average,
    )
    log.info(
        "exporting %s %s (%s, %s%s) to %s, opset %d",
        meta.variant,
        fmt,
        format_size((h, w)),
        meta.precision,
        ", flip-averaged" if flip_average else "",
        path,
        opset,
    )
    with torch.no_grad(), _quiet_exporter_logs():
        program = torch.onnx.export(
            module,
            (sample,),
            dynamo=True,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=dynamic_shapes,
            opset_version=opset,
            optimize=True,
            verbose=False,
        )
    proto = program.model_proto
    if half:
        # NVIDIA's route for strongly typed TensorRT (11.x has no FP16 builder flag): a mixed-precision conversion
        # of the float32 graph, I/O and numerically sensitive ops kept in float32 (not a blanket .half())
        from .onnx_tools import convert_float16

        proto = convert_float16(proto)
    if embed_pre_post:
        # Record (and prove) where the network sits, so runtimes can run pre/post-processing their own way.
        from ..runtime.network_cut import extract_network, locate_network

        net_in, net_out = locate_network(proto)
        extract_network(proto, net_in, net_out)
        meta = dataclasses.replace(meta, network_input=net_in, network_output=net_out)
    del proto.metadata_props[:]
    for key, value in meta.to_props().items():
        proto.metadata_props.add(key=key, value=value)
    proto.doc_string = f"STDC segmentation ({meta.variant}, {meta.num_classes} classes), stdc_ros {fmt} convention"
    onnx.checker.check_model(proto, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save_model(proto, str(tmp), save_as_external_data=False)
    tmp.replace(path)
    log.info("wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


@contextlib.contextmanager
def _quiet_exporter_logs() -> Iterator[None]:
    """The exporter's optimiser logs every rewrite at INFO; keep them out of our INFO output during export."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


# --- command line ----------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint",
        type=Path,
        nargs="?",
        help="stdc_ros model checkpoint (.pt); with --int8 the FP32 full ONNX file (default: the packaged one)",
    )
    parser.add_argument("-o", "--output", type=Path, help="ONNX file to write (default: next to the checkpoint)")
    parser.add_argument(
        "--input-size", type=parse_size, help="network input HxW (default: the checkpoint's, else 360x480)"
    )
    parser.add_argument(
        "--format",
        choices=(FORMAT_FULL, FORMAT_RAW),
        default=FORMAT_FULL,
        help="full: uint8 image in, labels out (ONNX Runtime); raw: normalised tensor in, logits out (TensorRT)",
    )
    parser.add_argument(
        "--half", action="store_true", help="raw only: mixed float16 network (float32 I/O), as TensorRT fp16 builds use"
    )
    parser.add_argument(
        "--flip-average",
        action="store_true",
        help="average with the mirrored image inside the graph (test-time flip: 2x the cost, a little more accurate)",
    )
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    parser.add_argument("--label-set", help="label set name stored in the metadata (default: the checkpoint's)")
    parser.add_argument(
        "--camvid-root",
        type=Path,
        default=Path(os.environ.get("STDC_CAMVID_ROOT", "../shared/camvid")),
        help="CamVid folder for the check against torch (skipped when missing)",
    )
    parser.add_argument("--check-frames", type=int, default=6, help="frames for the check against torch (0: skip)")
    parser.add_argument(
        "--min-agreement",
        type=float,
        default=0.999,
        help="fail when labels agree with torch on fewer clear-margin pixels than this",
    )
    from .int8_export import add_int8_arguments

    add_int8_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.int8:
        from .int8_export import run_int8

        return run_int8(args)
    if args.checkpoint is None:
        log.error("a checkpoint (.pt) to export is needed (or --int8 to quantize an ONNX file)")
        return 2
    from ..network.checkpoint import load_checkpoint_model, read_checkpoint
    from ..runtime.torch_backend import checkpoint_input_size

    model = load_checkpoint_model(args.checkpoint)
    meta = read_checkpoint(args.checkpoint).get("meta") or {}
    input_size = args.input_size or checkpoint_input_size(args.checkpoint) or DEFAULT_INPUT_SIZE
    label_set = args.label_set or (meta.get("label_set") if isinstance(meta, dict) else None)
    raw = args.format == FORMAT_RAW
    if args.half and not raw:
        log.error("--half needs --format raw")
        return 2
    suffix = (".raw" if raw else "") + (".fp16" if args.half else "") + ".onnx"
    output = args.output or args.checkpoint.with_suffix(suffix)
    export_onnx(
        model,
        output,
        input_size,
        label_set=label_set,
        embed_pre_post=not raw,
        opset=args.opset,
        half=args.half,
        flip_average=args.flip_average,
    )
    how = f"{args.format}, {format_size(input_size)}" + (", flip-averaged" if args.flip_average else "")
    print(f"exported {output} ({how}, opset {args.opset}); onnx.checker passed")
    if args.check_frames <= 0 or args.half:
        return 0
    if not (args.camvid_root / "test.txt").is_file():
        log.warning("CamVid not found at %s: skipped the check against torch", args.camvid_root)
        return 0
    report = check_against_torch(
        args.checkpoint, output, input_size, args.camvid_root, args.check_frames, flip_average=args.flip_average
    )
    print(f"check against torch on {args.check_frames} CamVid test frames: {report.summary()}")
    if report.confident < args.min_agreement:
        log.error("agreement %.4f is below %.4f", report.confident, args.min_agreement)
        return 1
    return 0


def check_against_torch(
    checkpoint: Path,
    onnx_path: Path,
    input_size: tuple[int, int],
    camvid_root: Path,
    count: int,
    flip_average: bool = False,
) -> AgreementReport:
    """Label agreement of the exported model (ONNX Runtime) with eager torch on real CamVid frames."""
    from ..runtime import create_runtime
    from .agreement import compare, load_camvid_frames, torch_references

    frames = [image for _, image in load_camvid_frames(camvid_root, count)]
    with create_runtime("torch", checkpoint, input_size=input_size, flip_average=flip_average) as reference:
        references = torch_references(reference, frames)
    with create_runtime("onnxruntime", onnx_path) as candidate:
        return compare(references, candidate, frames)
