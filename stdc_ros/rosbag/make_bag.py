"""``stdc-ros make-bag``: build a rosbag2 (MCAP or sqlite3) from a folder of frames and, optionally, labels.

Each frame becomes a sensor_msgs/Image (and/or CompressedImage) with a sensor_msgs/CameraInfo, and its label map
(same file stem) a mono8 Image on its own topic, all with the same header stamp, at ``rate_hz``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..cli_options import add_options, negated, option, options_from
from ..drivable.intrinsics import Intrinsics
from ..errors import BagError, StdcRosError
from ..image_files import read_label_map, read_rgb
from .camera import CAMVID_INTRINSICS, camera_info_msg, load_calibration
from .codec import COMPRESSED_FORMATS, ENCODINGS, compress_rgb, encode_rgb
from .io import STORAGES, BagWriter

LOG = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")


@dataclass(frozen=True)
class BagTopics:
    """Topic names of a made bag (the defaults are what ``eval`` and the demo look for)."""

    image: str = "/camera/image_raw"
    compressed: str = "/camera/image_raw/compressed"
    camera_info: str = "/camera/camera_info"
    labels: str = "/camera/labels_gt"


def list_frames(images_dir: Path, pattern: str = "*", limit: int = 0) -> list[Path]:
    """Image files of ``images_dir`` matching ``pattern``, sorted by name (a CamVid sequence plays in order)."""
    if not images_dir.is_dir():
        raise BagError(f"image folder not found: {images_dir}")
    frames = sorted(p for p in images_dir.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not frames:
        raise BagError(f"no images matching {pattern!r} ({', '.join(IMAGE_SUFFIXES)}) in {images_dir}")
    return frames[:limit] if limit > 0 else frames


def find_label(labels_dir: Path, frame: Path) -> Path | None:
    for suffix in (frame.suffix, *IMAGE_SUFFIXES):
        candidate = labels_dir / f"{frame.stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def make_header(store: Any, stamp_ns: int, frame_id: str) -> Any:
    types = store.types
    stamp = types["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)


def image_msg(store: Any, header: Any, rgb: np.ndarray, encoding: str) -> Any:
    step, data = encode_rgb(rgb, encoding)
    return store.types["sensor_msgs/msg/Image"](
        header=header, height=rgb.shape[0], width=rgb.shape[1], encoding=encoding, is_bigendian=0, step=step, data=data
    )


def labels_msg(store: Any, header: Any, labels: np.ndarray) -> Any:
    h, w = labels.shape
    return store.types["sensor_msgs/msg/Image"](
        header=header,
        height=h,
        width=w,
        encoding="mono8",
        is_bigendian=0,
        step=w,
        data=np.ascontiguousarray(labels).ravel(),
    )


def make_bag(
    images_dir: Path,
    out: Path,
    labels_dir: Path | None = None,
    rate_hz: float = 1.0,
    encoding: str = "rgb8",
    compressed: bool = False,
    storage: str = "mcap",
    *,
    raw: bool = True,
    compressed_format: str = "jpeg",
    jpeg_quality: int = 90,
    camera: Intrinsics = CAMVID_INTRINSICS,
    frame_id: str = "camera",
    topics: BagTopics = BagTopics(),
    start_time_ns: int | None = None,
    pattern: str = "*",
    limit: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write a rosbag2 at ``out`` from the frames in ``images_dir`` (and labels of the same stem in ``labels_dir``).

    Frame i is stamped ``start_time_ns + i / rate_hz`` (header stamp = bag log time). ``camera`` is scaled to
    each frame's size. Returns ``out``.
    """
    from tqdm import tqdm

    images_dir, out = Path(images_dir), Path(out)
    if rate_hz <= 0:
        raise BagError(f"rate must be positive, got {rate_hz}")
    if encoding not in ENCODINGS:
        raise BagError(f"unknown image encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    if compressed_format not in COMPRESSED_FORMATS:
        raise BagError(f"unknown compressed format {compressed_format!r}; choose jpeg or png")
    if not raw and not compressed:
        raise BagError("nothing to write: enable raw images, compressed images or both")
    if labels_dir is not None and not Path(labels_dir).is_dir():
        raise BagError(f"label folder not found: {labels_dir}")
    frames = list_frames(images_dir, pattern, limit)
    start = time.time_ns() if start_time_ns is None else int(start_time_ns)
    period_ns = 1e9 / rate_hz
    missing_labels = 0
    with BagWriter(out, storage, overwrite=overwrite) as writer:
        store = writer.store
        writer.set_custom_data("stdc_ros.source", str(images_dir.resolve()))
        writer.set_custom_data("stdc_ros.rate_hz", f"{rate_hz:g}")
        writer.set_custom_data("stdc_ros.intrinsics", json.dumps(asdict(camera), sort_keys=True))
        for i, frame in enumerate(tqdm(frames, desc="make-bag", unit="frame", disable=not progress)):
            stamp = start + round(i * period_ns)
            rgb = read_rgb(frame, BagError)
            header = make_header(store, stamp, frame_id)
            if raw:
                writer.write(topics.image, image_msg(store, header, rgb, encoding), stamp)
            if compressed:
                data = compress_rgb(rgb, compressed_format, jpeg_quality)
                fmt = f"{encoding}; {compressed_format} compressed bgr8"
                msg = store.types["sensor_msgs/msg/CompressedImage"](header=header, format=fmt, data=data)
                writer.write(topics.compressed, msg, stamp)
            intrinsics = camera.scaled_to(rgb.shape[1], rgb.shape[0])
            writer.write(topics.camera_info, camera_info_msg(intrinsics, store, header), stamp)
            if labels_dir is not None:
                label_path = find_label(Path(labels_dir), frame)
                if label_path is None:
                    missing_labels += 1
                    LOG.warning("no label map for %s in %s", frame.name, labels_dir)
                    continue
                labels = read_label_map(label_path, BagError)
                if labels.shape != rgb.shape[:2]:
                    raise BagError(f"{label_path} is {labels.shape[::-1]}, its frame {frame} {rgb.shape[1::-1]}")
                writer.write(topics.labels, labels_msg(store, header, labels), stamp)
    LOG.info(
        "wrote %s: %d frames at %g Hz (%s%s)",
        out,
        len(frames),
        rate_hz,
        storage,
        f", {missing_labels} without labels" if missing_labels else "",
    )
    return out


def topics_for(prefix: str) -> BagTopics:
    prefix = "/" + prefix.strip("/")
    return BagTopics(
        f"{prefix}/image_raw", f"{prefix}/image_raw/compressed", f"{prefix}/camera_info", f"{prefix}/labels_gt"
    )


def _seconds_to_ns(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1e9)


CAMERA_GROUP = "camera intrinsics (default: the documented CamVid assumption)"
CAMERA_FIELDS = ("calibration", "fx", "fy", "cx", "cy")


def _override(name: str) -> Any:
    help_text = f"override {name}, pixels at the calibration size (480x360 for the CamVid default)"
    return option(f"--{name}", default=None, parse=float, help=help_text, group=CAMERA_GROUP)


@dataclass(frozen=True)
class MakeBagCommand:
    """The options of ``stdc-ros make-bag``: the arguments of ``make_bag`` but the camera, and the camera's flags."""

    images_dir: Path = option("images", parse=Path, help="folder of frames (sorted by file name)")
    out: Path = option("out", parse=Path, help="rosbag2 folder to create")
    labels_dir: Path | None = option(
        "--labels", default=None, parse=Path, help="folder of label maps (class ids, same stems)"
    )
    rate_hz: float = option("--rate", default=1.0, parse=float, help="frames per second (CamVid frames are 1 s apart)")
    encoding: str = option("--encoding", default="rgb8", choices=ENCODINGS, help="encoding of the Image messages")
    compressed: bool = option(
        "--compressed", default=False, action="store_true", help="also write sensor_msgs/CompressedImage"
    )
    raw: bool = negated("--no-raw", help="write no sensor_msgs/Image (needs --compressed)")
    compressed_format: str = option("--compressed-format", default="jpeg", choices=COMPRESSED_FORMATS)
    jpeg_quality: int = option("--jpeg-quality", default=90, parse=int)
    storage: str = option("--storage", default="mcap", choices=STORAGES, help="rosbag2 storage plugin")
    pattern: str = option("--pattern", default="*", help="glob of the frames to take, e.g. '0001TP_*'")
    limit: int = option("--limit", default=0, parse=int, help="take only the first N frames (0: all)")
    start_time_ns: int | None = option(
        "--start-time", default=None, parse=float, convert=_seconds_to_ns, help="first stamp, seconds (default: now)"
    )
    frame_id: str = option("--frame-id", default="camera")
    topics: BagTopics = option(
        "--topic-prefix",
        default=BagTopics(),
        cli_default="/camera",
        convert=topics_for,
        help="topics: PREFIX/image_raw, PREFIX/camera_info, ...",
    )
    calibration: Path | None = option(
        "--calibration", default=None, parse=Path, help="ROS camera calibration YAML", group=CAMERA_GROUP
    )
    fx: float | None = _override("fx")
    fy: float | None = _override("fy")
    cx: float | None = _override("cx")
    cy: float | None = _override("cy")
    overwrite: bool = option("--overwrite", default=False, action="store_true", help="replace OUT if it is a bag")
    progress: bool = negated("--no-progress")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.epilog = (
        "example: stdc-ros make-bag ../shared/camvid/test camvid.bag --labels ../shared/camvid/testannot "
        "--pattern '0001TP_*' --rate 1"
    )
    add_options(parser, MakeBagCommand)


def intrinsics_from_args(options: MakeBagCommand) -> Intrinsics:
    camera = load_calibration(options.calibration) if options.calibration else CAMVID_INTRINSICS
    try:
        return camera.with_overrides(fx=options.fx, fy=options.fy, cx=options.cx, cy=options.cy)
    except ValueError as exc:  # e.g. --fx 0: Intrinsics refuses a non-positive focal length
        raise BagError(f"bad camera intrinsics: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    options = options_from(args, MakeBagCommand)
    arguments = {f.name: getattr(options, f.name) for f in fields(options) if f.name not in CAMERA_FIELDS}
    try:
        out = make_bag(**arguments, camera=intrinsics_from_args(options))
    except StdcRosError as exc:
        LOG.error("%s", exc)
        return 2
    print(out)
    return 0
