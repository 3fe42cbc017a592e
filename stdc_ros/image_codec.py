"""sensor_msgs/Image and CompressedImage payloads <-> numpy, for every encoding a vehicle camera sends.

No ROS imports: the node, the bag tools and the tests share these functions. ``decode_image`` returns a
uint8 (H, W, 3) array and its channel order ("rgb" or "bgr"); for rgb8/bgr8 it is a view on the message
buffer (no copy, row padding included), other encodings are converted with one OpenCV/numpy call.
16-bit encodings keep their high byte (value >> 8), so a full-range 16-bit image maps onto 0..255.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import PIL.Image

from .errors import ImageFormatError

ChannelOrder = Literal["rgb", "bgr"]
DEFAULT_MAX_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class Layout:
    """How one encoding lays out a pixel: channels per pixel, bytes per channel and what the channels are."""

    channels: int
    depth: int  # bytes per channel (1 or 2)
    kind: str  # rgb, bgr, rgba, bgra, mono, uyvy, yuyv, bayer_rggb, bayer_bggr, bayer_gbrg, bayer_grbg

    @property
    def bytes_per_pixel(self) -> int:
        return self.channels * self.depth


def _layouts() -> dict[str, Layout]:
    table = {
        "rgb8": Layout(3, 1, "rgb"),
        "bgr8": Layout(3, 1, "bgr"),
        "rgba8": Layout(4, 1, "rgba"),
        "bgra8": Layout(4, 1, "bgra"),
        "mono8": Layout(1, 1, "mono"),
        "8uc1": Layout(1, 1, "mono"),
        "8uc3": Layout(3, 1, "bgr"),
        "8uc4": Layout(4, 1, "bgra"),
        "rgb16": Layout(3, 2, "rgb"),
        "bgr16": Layout(3, 2, "bgr"),
        "rgba16": Layout(4, 2, "rgba"),
        "bgra16": Layout(4, 2, "bgra"),
        "mono16": Layout(1, 2, "mono"),
        "16uc1": Layout(1, 2, "mono"),
        # sensor_msgs "yuv422" is UYVY; "yuv422_yuy2" is YUYV; newer distributions add the plain names.
        "yuv422": Layout(2, 1, "uyvy"),
        "uyvy": Layout(2, 1, "uyvy"),
        "yuv422_yuy2": Layout(2, 1, "yuyv"),
        "yuyv": Layout(2, 1, "yuyv"),
    }
    for pattern in ("rggb", "bggr", "gbrg", "grbg"):
        table[f"bayer_{pattern}8"] = Layout(1, 1, f"bayer_{pattern}")
        table[f"bayer_{pattern}16"] = Layout(1, 2, f"bayer_{pattern}")
    return table


LAYOUTS: dict[str, Layout] = _layouts()
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(LAYOUTS)

# OpenCV names Bayer patterns after the second row; these are the codes cv_bridge uses for each ROS name.
_BAYER_TO_BGR = {
    "bayer_rggb": cv2.COLOR_BayerBG2BGR,
    "bayer_bggr": cv2.COLOR_BayerRG2BGR,
    "bayer_gbrg": cv2.COLOR_BayerGR2BGR,
    "bayer_grbg": cv2.COLOR_BayerGB2BGR,
}
# Which RGB channel each position of the 2x2 Bayer tile samples: (row, col) -> channel index.
_BAYER_TILES = {
    "bayer_rggb": ((0, 1), (1, 2)),
    "bayer_bggr": ((2, 1), (1, 0)),
    "bayer_gbrg": ((1, 2), (0, 1)),
    "bayer_grbg": ((1, 0), (2, 1)),
}


def layout_of(encoding: str) -> Layout:
    """The layout of a ROS encoding name (case-insensitive); ImageFormatError when unsupported."""
    layout = LAYOUTS.get(encoding.strip().lower())
    if layout is None:
        raise ImageFormatError(
            f"unsupported encoding {encoding!r} (supported: {', '.join(sorted(set(SUPPORTED_ENCODINGS)))})"
        )
    return layout


def _as_bytes_array(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    if isinstance(data, np.ndarray):
        flat = data.reshape(-1)
        return flat if flat.dtype == np.uint8 else flat.view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def decode_image(
    encoding: str,
    height: int,
    width: int,
    step: int,
    is_bigendian: bool | int,
    data: bytes | bytearray | memoryview | np.ndarray,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray, ChannelOrder]:
    """An Image message's fields -> (uint8 (H, W, 3) array, "rgb" or "bgr").

    Raises ImageFormatError naming the inconsistency: unknown encoding, zero size, size above
    ``max_pixels``, ``step`` shorter than a row, ``data`` shorter than ``step * height``, odd width for YUV 4:2:2.
    """
    layout = layout_of(encoding)
    height, width, step = int(height), int(width), int(step)
    if height <= 0 or width <= 0:
        raise ImageFormatError(f"{encoding}: empty image ({height}x{width})")
    if height * width > max_pixels:
        raise ImageFormatError(f"{encoding}: {height}x{width} exceeds the limit of {max_pixels} pixels")
    row_bytes = width * layout.bytes_per_pixel
    if step < row_bytes:
        raise ImageFormatError(f"{encoding}: step {step} is shorter than a row of {width} pixels ({row_bytes} bytes)")
    if layout.kind in ("uyvy", "yuyv") and width % 2:
        raise ImageFormatError(f"{encoding}: YUV 4:2:2 needs an even width, got {width}")
    buffer = _as_bytes_array(data)
    if buffer.size < step * height:
        raise ImageFormatError(
            f"{encoding}: data has {buffer.size} bytes, step {step} x height {height} needs {step * height}"
        )
    rows = buffer[: step * height].reshape(height, step)[:, :row_bytes]
    if layout.depth == 2:
        # High byte of each 16-bit value; the byte order comes from the message, not the machine.
        rows = (rows.view(">u2" if is_bigendian else "<u2") >> 8).astype(np.uint8)
    return _to_three_channels(rows, layout, height, width)


def _to_three_channels(rows: np.ndarray, layout: Layout, height: int, width: int) -> tuple[np.ndarray, ChannelOrder]:
    kind = layout.kind
    if kind in ("rgb", "bgr"):
        return rows.reshape(height, width, 3), kind  # type: ignore[return-value]
    if kind in ("rgba", "bgra"):
        return rows.reshape(height, width, 4)[:, :, :3], kind[:3]  # type: ignore[return-value]
    if kind == "mono":
        return cv2.cvtColor(np.ascontiguousarray(rows), cv2.COLOR_GRAY2RGB), "rgb"
    if kind == "uyvy":
        return cv2.cvtColor(rows.reshape(height, width, 2), cv2.COLOR_YUV2RGB_UYVY), "rgb"
    if kind == "yuyv":
        return cv2.cvtColor(rows.reshape(height, width, 2), cv2.COLOR_YUV2RGB_YUYV), "rgb"
    return cv2.cvtColor(np.ascontiguousarray(rows), _BAYER_TO_BGR[kind]), "bgr"


def compressed_size(buffer: np.ndarray) -> tuple[int, int] | None:
    """(height, width) declared by a compressed image's header, read by Pillow without decoding any pixel;
    None when Pillow does not recognise the header (OpenCV then decides)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
        try:
            with PIL.Image.open(io.BytesIO(buffer.tobytes())) as header:
                width, height = header.size
        except PIL.Image.DecompressionBombError:
            return (1 << 31, 1 << 31)  # Pillow's own limit is far above any ``max_pixels`` we accept
        except (PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError):
            return None
    return height, width


def decode_compressed(
    format: str,  # the CompressedImage field's name
    data: bytes | bytearray | memoryview | np.ndarray,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray, ChannelOrder]:
    """A CompressedImage (JPEG or PNG) -> (uint8 (H, W, 3) BGR array, "bgr"); ImageFormatError when corrupt."""
    fmt = format.lower()
    if "compresseddepth" in fmt:
        raise ImageFormatError(f"unsupported compressed format {format!r} (depth images are not segmented)")
    buffer = _as_bytes_array(data)
    if buffer.size == 0:
        raise ImageFormatError(f"compressed image ({format!r}) has no data")
    size = compressed_size(buffer)
    if size is not None and size[0] * size[1] > max_pixels:
        # refused from the header: a small file can declare a huge image (a decompression bomb)
        raise ImageFormatError(f"compressed image {size[0]}x{size[1]} exceeds {max_pixels} pixels")
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ImageFormatError(f"cannot decode compressed image ({format!r}, {buffer.size} bytes)")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageFormatError(f"compressed image {image.shape[0]}x{image.shape[1]} exceeds {max_pixels} pixels")
    return image, "bgr"


def encode_image(
    rgb: np.ndarray, encoding: str, *, row_padding: int = 0, big_endian: bool = False
) -> tuple[int, bytes]:
    """uint8 RGB (H, W, 3) -> (step, data) of an Image in ``encoding``; used to make test frames and bags.

    ``row_padding`` appends that many zero bytes to each row (``step`` grows accordingly); 16-bit encodings
    scale by 257 (so 255 -> 65535) and honour ``big_endian``.
    """
    layout = layout_of(encoding)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"encode_image needs uint8 (H, W, 3) RGB, got {rgb.dtype} {rgb.shape}")
    height = rgb.shape[0]
    planes = _from_rgb(np.ascontiguousarray(rgb), layout)
    if layout.depth == 2:
        planes = (planes.astype(np.uint16) * np.uint16(257)).astype(">u2" if big_endian else "<u2")
    rows = np.ascontiguousarray(planes).view(np.uint8).reshape(height, -1)
    if row_padding:
        rows = np.concatenate([rows, np.zeros((height, row_padding), np.uint8)], axis=1)
    return int(rows.shape[1]), rows.tobytes()


def _from_rgb(rgb: np.ndarray, layout: Layout) -> np.ndarray:
    kind = layout.kind
    if kind == "rgb":
        return rgb
    if kind == "bgr":
        return rgb[:, :, ::-1]
    if kind in ("rgba", "bgra"):
        color = rgb if kind == "rgba" else rgb[:, :, ::-1]
        alpha = np.full((*rgb.shape[:2], 1), 255, np.uint8)
        return np.concatenate([color, alpha], axis=2)
    if kind == "mono":
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if kind in ("uyvy", "yuyv"):
        if rgb.shape[1] % 2:
            raise ValueError("YUV 4:2:2 needs an even width")
        code = cv2.COLOR_RGB2YUV_UYVY if kind == "uyvy" else cv2.COLOR_RGB2YUV_YUYV
        return cv2.cvtColor(rgb, code)
    mosaic = np.empty(rgb.shape[:2], np.uint8)
    for dy, row in enumerate(_BAYER_TILES[kind]):
        for dx, channel in enumerate(row):
            mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, channel]
    return mosaic


def encode_compressed(image: np.ndarray, fmt: Literal["jpeg", "png"] = "jpeg", quality: int = 90) -> bytes:
    """uint8 RGB (H, W, 3) or single-channel (H, W) -> JPEG/PNG bytes. Class masks must use PNG (lossless)."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, encoded = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", image, params)
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} image as {fmt}")
    return encoded.tobytes()
