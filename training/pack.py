"""A compact copy of CamVid's training frames for a machine that has no ../shared (a lent GPU machine).

python -m training.pack [--root ../shared/camvid] [--splits train val] [--out build/camvid_trainval.tar]
                        [--format webp|jpg] [--quality 90]

The tar holds a CamVid-layout folder: images lossy-compressed (WebP quality 90 by default: about 43 kB a frame
instead of 250 kB of PNG, mean absolute error 1.8 grey levels, so train + val pack into about 22 MiB; WebP 70:
12 MiB, error 3.1; JPEG 95: 35 MiB), label maps as PNG (lossless, class ids unchanged), one ``<split>.txt``
list per split and ``PACK.json`` saying what it is. The test split is never packed: it is scored
once, on this machine, after training. ``unpack`` extracts it into a folder that training.datasets.CamVid reads.
Training on compressed frames differs slightly from the PNG originals (compression noise well below the
colour jitter); the card of a run that used it says so through its lineage (data.root names the pack).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2

from .datasets import CamVid

MANIFEST = "PACK.json"
LIMIT_MIB = 60  # what one call to a lent machine may carry, with room for the code


FORMATS = {"webp": cv2.IMWRITE_WEBP_QUALITY, "jpg": cv2.IMWRITE_JPEG_QUALITY}


@dataclass
class PackInfo:
    source: str
    splits: dict[str, int]  # frames per split
    image_format: str
    quality: int
    bytes: int


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mtime = int(time.time())
    tar.addfile(member, io.BytesIO(data))


def pack_camvid(root: Path, splits: list[str], out: Path, image_format: str = "webp", quality: int = 90) -> PackInfo:
    """Write the pack of ``splits`` of the CamVid folder ``root`` to ``out`` (a .tar)."""
    if image_format not in FORMATS:
        raise ValueError(f"image format must be one of {', '.join(FORMATS)}, got {image_format!r}")
    if "test" in splits:
        raise ValueError("the test split is not packed: it is scored once, after training, where ../shared is")
    out.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with tarfile.open(out, "w") as tar:
        for split in splits:
            data = CamVid(root, [split], cache=False)
            lines = []
            for index, (image_path, _) in enumerate(data.pairs):
                image, label = data.load(index)
                stem = image_path.stem
                ok_image, encoded = cv2.imencode(f".{image_format}", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                                 [FORMATS[image_format], quality])  # fmt: skip
                ok_label, png = cv2.imencode(".png", label, [cv2.IMWRITE_PNG_COMPRESSION, 9])
                if not (ok_image and ok_label):
                    raise RuntimeError(f"could not encode {image_path}")
                _add(tar, f"{split}/{stem}.{image_format}", encoded.tobytes())
                _add(tar, f"{split}annot/{stem}.png", png.tobytes())
                lines.append(f"{split}/{stem}.{image_format} {split}annot/{stem}.png")
            _add(tar, f"{split}.txt", ("\n".join(lines) + "\n").encode())
            counts[split] = len(lines)
        info = PackInfo(str(root), counts, image_format, quality, 0)
        _add(tar, MANIFEST, json.dumps(asdict(info), indent=2).encode())
    info.bytes = out.stat().st_size
    return info


def unpack(pack: Path, dest: Path) -> Path:
    """Extract ``pack`` into ``dest`` (kept if already there) and return the CamVid root inside."""
    if not (dest / MANIFEST).is_file():
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(pack) as tar:
            tar.extractall(dest, filter="data")  # plain files inside dest only
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("../shared/camvid"))
    parser.add_argument("--splits", nargs="+", default=["train", "val"])
    parser.add_argument("--out", type=Path, default=Path("build/camvid_trainval.tar"))
    parser.add_argument("--format", choices=sorted(FORMATS), default="webp", help="image encoding")
    parser.add_argument("--quality", type=int, default=90, help="image quality (0-100)")
    parser.add_argument("--limit-mib", type=float, default=LIMIT_MIB, help="warn above this size")
    args = parser.parse_args(argv)
    info = pack_camvid(args.root, args.splits, args.out, args.format, args.quality)
    frames = ", ".join(f"{n} {split}" for split, n in info.splits.items())
    print(f"wrote {args.out}: {frames} frames, {info.bytes / 2**20:.1f} MiB")
    if info.bytes > args.limit_mib * 2**20:
        print(f"warning: larger than {args.limit_mib} MiB; a lower --quality makes it smaller", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
