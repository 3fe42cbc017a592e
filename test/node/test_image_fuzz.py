"""Fuzzing the pure image path: whatever a camera (or an attacker) sends, decoding returns a valid image or raises
ImageFormatError naming why; nothing else escapes, and an accepted image is exactly what the fields describe.

Hypothesis drives sizes from 0x0 to beyond 8K, every encoding name (plus case variants and unknown strings), steps
shorter and longer than a row, truncated, exact and oversized data, both endianness flags, and corrupt JPEG/PNG.
Buffers stay small: a size whose data would exceed a few MB is only tried with short data (refused before use).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

pytest.importorskip("hypothesis")  # a dev tool: skipped where it is absent (a ROS install, .venv-jazzy)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import CompressedImage, Image

from stdc_ros.errors import ImageFormatError
from stdc_ros.image_codec import (
    DEFAULT_MAX_PIXELS,
    LAYOUTS,
    SUPPORTED_ENCODINGS,
    decode_compressed,
    decode_image,
    encode_compressed,
    encode_image,
)
from stdc_ros.node.inputs import decode_message

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_DATA = 3 << 20  # bytes a single example may allocate
EIGHT_K = (4320, 7680)

encodings = st.one_of(
    st.sampled_from(SUPPORTED_ENCODINGS),
    st.sampled_from(SUPPORTED_ENCODINGS).map(str.upper),
    st.sampled_from(["", "rgb", "rgb32", "hsv8", "yuv420", "nv12", "jpeg", "32FC1", "16SC1", "bayer_rggb32", "8UC2"]),
    st.text(max_size=16),
)
EDGE_DIMS = [0, 1, 2, 4096, 4097, 7680, 8192, 2**32 - 1]
dims = st.one_of(st.integers(0, 64), st.integers(0, 9000), st.sampled_from(EDGE_DIMS))
DIRECT = sorted(e for e, layout in LAYOUTS.items() if layout.kind in ("rgb", "bgr", "rgba", "bgra"))


def expected_refusal(encoding: str, height: int, width: int, step: int, size: int, max_pixels: int) -> bool:
    """The specification: when must decode_image refuse these fields?"""
    layout = LAYOUTS.get(encoding.strip().lower())
    if layout is None or height <= 0 or width <= 0 or height * width > max_pixels:
        return True
    if step < width * layout.bytes_per_pixel or size < step * height:
        return True
    return layout.kind in ("uyvy", "yuyv") and width % 2 == 1


@st.composite
def image_fields(draw: st.DrawFn) -> tuple[str, int, int, int, int, bytes]:
    encoding = draw(encodings)
    height, width = draw(dims), draw(dims)
    layout = LAYOUTS.get(encoding.strip().lower())
    row = width * (layout.bytes_per_pixel if layout else draw(st.integers(1, 8)))
    step = draw(
        st.one_of(
            st.just(row),
            st.builds(lambda d: max(row + d, 0), st.integers(-row - 3, 64)),  # shorter or longer than a row
            st.integers(0, 2**32 - 1),
        )
    )
    needed = step * height
    if needed <= MAX_DATA:
        mode = draw(st.sampled_from(["exact", "short", "long", "empty"]))
        length = {
            "exact": needed,
            "short": draw(st.integers(0, max(needed - 1, 0))),
            "long": needed + draw(st.integers(1, 4096)),
            "empty": 0,
        }[mode]
    else:  # a huge image: only short data (allocating the real thing would take gigabytes)
        length = draw(st.integers(0, 65536))
    data = draw(st.binary(min_size=min(length, 64), max_size=min(length, 64))) * (length // 64 + 1)
    return encoding, height, width, step, draw(st.integers(0, 255)), data[:length]


@FUZZ
@given(fields=image_fields(), max_pixels=st.sampled_from([DEFAULT_MAX_PIXELS, 1 << 20, 5000]))
def test_decode_image_accepts_exactly_the_consistent_messages(
    fields: tuple[str, int, int, int, int, bytes], max_pixels: int
) -> None:
    encoding, height, width, step, big_endian, data = fields
    refuse = expected_refusal(encoding, height, width, step, len(data), max_pixels)
    try:
        image, order = decode_image(encoding, height, width, step, big_endian, data, max_pixels)
    except ImageFormatError as exc:
        assert refuse, f"refused a consistent message: {exc}"
        assert str(exc), "a refusal must say why"
        return
    assert not refuse, "accepted an inconsistent message"
    assert image.dtype == np.uint8 and image.shape == (height, width, 3)
    assert order in ("rgb", "bgr")


def test_sizes_beyond_8k_are_refused_without_allocating() -> None:
    height, width = EIGHT_K[0] + 1, EIGHT_K[1] + 1
    for encoding in ("rgb8", "mono16", "bayer_rggb8", "yuv422"):
        row = width * LAYOUTS[encoding].bytes_per_pixel
        with pytest.raises(ImageFormatError, match="exceeds"):
            decode_image(encoding, height, width, row, 0, b"\0" * 1024)
    with pytest.raises(ImageFormatError, match="exceeds"):
        decode_image("rgb8", 2**32 - 1, 2**32 - 1, 2**32 - 1, 0, b"")


@settings(max_examples=120, deadline=None)
@given(
    encoding=st.sampled_from(DIRECT),
    height=st.integers(1, 24),
    width=st.integers(1, 24),
    padding=st.integers(0, 9),
    big_endian=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_lossless_encodings_round_trip_with_any_padding_and_byte_order(
    encoding: str, height: int, width: int, padding: int, big_endian: bool, seed: int
) -> None:
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    step, data = encode_image(rgb, encoding, row_padding=padding, big_endian=big_endian)
    image, order = decode_image(encoding, height, width, step, big_endian, data)
    assert np.array_equal(image if order == "rgb" else image[:, :, ::-1], rgb)


@st.composite
def message_fields(draw: st.DrawFn) -> Image:
    """A sensor_msgs/Image as it arrives: field values within their ROS types (uint32, uint8)."""
    encoding, height, width, step, big_endian, data = draw(image_fields())
    assume(encoding.isascii())  # ROS strings are bytes on the wire; the message class refuses other text
    height, width, step = (min(v, 2**32 - 1) for v in (height, width, step))
    msg = Image(height=height, width=width, encoding=encoding, step=step, is_bigendian=big_endian)
    msg.data = data
    return msg


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msg=message_fields())
def test_decode_message_never_raises_anything_but_image_format_error(msg: Image) -> None:
    try:
        image, _ = decode_message(msg, DEFAULT_MAX_PIXELS)
    except ImageFormatError:
        return
    assert image.shape == (msg.height, msg.width, 3)


# ------------------------------------------------------------------------------------------- compressed
def _valid_blobs() -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    return {"jpeg": encode_compressed(rgb, "jpeg"), "png": encode_compressed(rgb, "png")}


BLOBS = _valid_blobs()


@st.composite
def corrupt_blob(draw: st.DrawFn) -> bytes:
    blob = bytearray(BLOBS[draw(st.sampled_from(sorted(BLOBS)))])
    kind = draw(st.sampled_from(["truncate", "flip", "garbage_prefix", "random", "empty", "header_only"]))
    if kind == "truncate":
        return bytes(blob[: draw(st.integers(0, len(blob) - 1))])
    if kind == "flip":
        for _ in range(draw(st.integers(1, 20))):
            i = draw(st.integers(0, len(blob) - 1))
            blob[i] = draw(st.integers(0, 255))
        return bytes(blob)
    if kind == "garbage_prefix":
        return draw(st.binary(min_size=1, max_size=32)) + bytes(blob)
    if kind == "header_only":
        return bytes(blob[:32])
    if kind == "empty":
        return b""
    return draw(st.binary(max_size=2048))


@settings(max_examples=200, deadline=None)
@given(
    data=corrupt_blob(),
    fmt=st.one_of(
        st.sampled_from(["jpeg", "png", "rgb8; jpeg compressed bgr8", "16UC1; compressedDepth", ""]), st.text()
    ),
)
def test_decode_compressed_returns_an_image_or_refuses(data: bytes, fmt: str) -> None:
    try:
        image, order = decode_compressed(fmt, data)
    except ImageFormatError as exc:
        assert str(exc)
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and order == "bgr"


def test_compressed_messages_of_each_kind_of_corruption_are_refused() -> None:
    jpeg, png = BLOBS["jpeg"], BLOBS["png"]
    for fmt, data in [
        ("jpeg", b""),
        ("jpeg", b"\xff\xd8\xff" + b"\0" * 10),  # a JPEG start marker and nothing usable
        ("png", png[:20]),
        ("png", b"GIF89a" + png[6:]),
        ("16UC1; compressedDepth", png),
        ("jpeg", bytes(range(256)) * 4),
    ]:
        with pytest.raises(ImageFormatError):
            decode_message(CompressedImage(format=fmt, data=data), DEFAULT_MAX_PIXELS)
    # Damage past the headers may decode to a partly grey frame or be refused; either way nothing else escapes.
    for cut in range(40, len(jpeg), 97):
        with contextlib.suppress(ImageFormatError):
            assert decode_compressed("jpeg", jpeg[:cut])[0].shape == (24, 32, 3)
    with pytest.raises(ImageFormatError, match="exceeds"):
        decode_compressed("png", png, max_pixels=24 * 32 - 1)
