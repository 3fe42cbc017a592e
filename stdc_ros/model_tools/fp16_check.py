"""How the fp16 TensorRT network (the float16 conversion ``tensorrt_build`` builds from) compares with fp32, run
with ONNX Runtime on a CamVid split: label agreement and mIoU of both. No GPU needed.

    python -m stdc_ros.model_tools.fp16_check models/stdc1_camvid.onnx --camvid-root ../shared/camvid [--frames 233]

ONNX Runtime's CPU kernels run the float16 graph with float32 arithmetic where they lack float16 kernels, so this
measures the conversion (float16 weights and float16 tensors between ops), not TensorRT's float16 accumulation.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..image_files import read_rgb
from ..metrics import ConfusionMatrix
from ..runtime.conventions import read_model_metadata
from ..runtime.prepost import NearestResizer, Preprocessor, argmax_confidence
from .tensorrt_build import prepare_network

log = logging.getLogger(__name__)

CAMVID_CLASSES, CAMVID_IGNORE = 11, 11


@dataclass
class Fp16Report:
    frames: int
    agreement: float  # share of pixels whose fp16 label equals the fp32 label
    miou_fp32: float
    miou_fp16: float

    def summary(self) -> str:
        return (
            f"{self.frames} frames: fp16 labels agree with fp32 on {100 * self.agreement:.3f}% of pixels; "
            f"mIoU fp32 {100 * self.miou_fp32:.2f}, fp16 {100 * self.miou_fp16:.2f}"
        )


def compare_fp16(model: Path, camvid_root: Path, frames: int | None = None, split: str = "test") -> Fp16Report:
    import onnxruntime as ort

    meta = read_model_metadata(model)
    listing = [line.split() for line in (Path(camvid_root) / f"{split}.txt").read_text().splitlines() if line.strip()]
    if frames is not None and frames < len(listing):
        listing = [listing[int(i)] for i in np.linspace(0, len(listing) - 1, frames).astype(int)]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sessions = []
    for precision in ("fp32", "fp16"):
        source = prepare_network(model, meta, precision)
        sessions.append(ort.InferenceSession(source.model, options, providers=["CPUExecutionProvider"]))
    name = sessions[0].get_inputs()[0].name
    pre, resize = Preprocessor(meta.input_size, meta.mean, meta.std), NearestResizer()
    scores = [ConfusionMatrix(CAMVID_CLASSES, CAMVID_IGNORE) for _ in sessions]
    same = total = 0
    started = time.monotonic()
    for n, (image_name, label_name) in enumerate(listing, 1):
        image = read_rgb(Path(camvid_root) / image_name.lstrip("/"))
        truth = cv2.imread(str(Path(camvid_root) / label_name.lstrip("/")), cv2.IMREAD_UNCHANGED)
        blob = pre(image)
        labels = []
        for session, score in zip(sessions, scores, strict=True):
            logits = session.run(None, {name: blob})[0][0]
            predicted = resize(argmax_confidence(logits, False)[0], image.shape[:2])
            score.update(predicted, np.minimum(truth, CAMVID_IGNORE))
            labels.append(predicted)
        same += int((labels[0] == labels[1]).sum())
        total += labels[0].size
        if n % 50 == 0:
            log.info("%d/%d frames (%.0f s)", n, len(listing), time.monotonic() - started)
    return Fp16Report(len(listing), same / total, scores[0].miou(), scores[1].miou())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="fp32 ONNX model (full or raw)")
    parser.add_argument(
        "--camvid-root", type=Path, default=Path(os.environ.get("STDC_CAMVID_ROOT", "../shared/camvid"))
    )
    parser.add_argument("--split", default="test")
    parser.add_argument("--frames", type=int, help="frames spread over the split (default: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(compare_fp16(args.model, args.camvid_root, args.frames, args.split).summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
