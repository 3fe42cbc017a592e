"""decode_image / decode_compressed / encode_image against hand-made frames of every encoding (no ROS)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from stdc_ros.errors import ImageFormatError
from stdc_ros.image_codec import (
    LAYOUTS,
    SUPPORTED_ENCODINGS,
    compressed_size,
    decode_compressed,
    decode_image,
    encode_compressed,
    encode_image,
)

COLOURS = [(200, 100, 50), (10, 220, 130), (90, 90, 240), (255, 255, 255), (0, 0, 0), (128, 64, 128)]


def blocks(height: int = 24, width: int = 36) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    bh, bw = height // 2, width // 3
    for i, colour in enumerate(COLOURS):
        r, c = divmod(i, 3)
        image[r * bh : (r + 1) * bh, c * bw : (c + 1) * bw] = colour
    return image


def expected(rgb: np.ndarray, encoding: str) -> np.ndarray:
    if LAYOUTS[encoding].kind == "mono":
        gray = np.round(rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return rgb


def interior(image: np.ndarray, margin: int = 2) -> np.ndarray:
    """Block interiors: demosaicing and 4:2:2 chroma blend only across block edges."""
    h, w = image.shape[:2]
    bh, bw = h // 2, w // 3
    keep = np.ones((h, w), bool)
    for y in (0, bh, h):
        keep[max(0, y - margin) : y + margin] = False
    for x in (0, bw, 2 * bw, w):
        keep[:, max(0, x - margin) : x + margin] = False
    return image[keep]


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
@pytest.mark.parametrize("row_padding", [0, 5])
def test_every_encoding_round_trips(encoding: str, row_padding: int) -> None:
    rgb = blocks()
    big_endian = LAYOUTS[encoding].depth == 2 and row_padding > 0  # both byte orders across the matrix
    step, data = encode_image(rgb, encoding, row_padding=row_padding, big_endian=big_endian)
    assert step == rgb.shape[1] * LAYOUTS[encoding].bytes_per_pixel + row_padding
    image, order = decode_image(encoding, rgb.shape[0], rgb.shape[1], step, big_endian, data)
    assert image.shape == rgb.shape and image.dtype == np.uint8
    as_rgb = image if order == "rgb" else image[:, :, ::-1]
    tolerance = 3 if LAYOUTS[encoding].kind in ("uyvy", "yuyv") else 1
    diff = np.abs(interior(as_rgb).astype(int) - interior(expected(rgb, encoding)).astype(int))
    assert diff.max() <= tolerance, f"{encoding}: max error {diff.max()}"


@pytest.mark.parametrize("big_endian", [False, True])
def test_sixteen_bit_keeps_the_high_byte_in_the_message_byte_order(big_endian: bool) -> None:
    values = np.array([[0x0000, 0x7F01, 0xFFFF, 0x01FE]], dtype=">u2" if big_endian else "<u2")
    out, order = decode_image("mono16", 1, 4, 8, big_endian, values.tobytes())
    assert order == "rgb" and out[0, :, 0].tolist() == [0x00, 0x7F, 0xFF, 0x01]
    wrong, _ = decode_image("mono16", 1, 4, 8, not big_endian, values.tobytes())
    assert wrong[0, :, 0].tolist() == [0x00, 0x01, 0xFF, 0xFE]
    rgb16 = np.array([[[0x1234, 0xABCD, 0xFF00]]], dtype=">u2" if big_endian else "<u2")
    out, order = decode_image("rgb16", 1, 1, 6, big_endian, rgb16.tobytes())
    assert out[0, 0].tolist() == [0x12, 0xAB, 0xFF]


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
@pytest.mark.parametrize("row_padding", [0, 7])
def test_rgb8_and_bgr8_are_zero_copy_views(encoding: str, row_padding: int) -> None:
    rgb = blocks()
    step, data = encode_image(rgb, encoding, row_padding=row_padding)
    buffer = np.frombuffer(data, np.uint8)
    image, order = decode_image(encoding, 24, 36, step, 0, buffer)
    assert np.shares_memory(image, buffer)
    assert order == encoding[:3]
    assert np.array_equal(image if order == "rgb" else image[:, :, ::-1], rgb)


def test_encodings_are_case_insensitive_and_accept_memoryview() -> None:
    rgb = blocks()
    step, data = encode_image(rgb, "rgb8")
    image, _ = decode_image("RGB8", 24, 36, step, False, memoryview(data))
    assert np.array_equal(image, rgb)


@pytest.mark.parametrize(
    ("encoding", "height", "width", "step", "size", "reason"),
    [
        ("32FC1", 4, 4, 16, 64, "unsupported encoding"),
        ("nonsense", 4, 4, 12, 48, "unsupported encoding"),
        ("rgb8", 0, 4, 12, 0, "empty image"),
        ("rgb8", 4, 0, 0, 0, "empty image"),
        ("rgb8", 4, 4, 11, 48, "step 11 is shorter"),
        ("rgb8", 4, 4, 12, 47, "data has 47 bytes"),
        ("rgb8", 4, 4, 12, 0, "data has 0 bytes"),
        ("mono16", 4, 4, 7, 64, "step 7 is shorter"),
        ("yuv422", 4, 5, 10, 40, "even width"),
        ("rgb8", 100, 100, 300, 30000, "exceeds the limit"),
    ],
)
def test_inconsistent_frames_raise_with_a_reason(
    encoding: str, height: int, width: int, step: int, size: int, reason: str
) -> None:
    with pytest.raises(ImageFormatError, match=reason):
        decode_image(encoding, height, width, step, False, bytes(size), max_pixels=5000)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_images_decode_to_bgr(fmt: str) -> None:
    rgb = blocks()
    image, order = decode_compressed(fmt, encode_compressed(rgb, fmt))  # type: ignore[arg-type]
    assert order == "bgr" and image.shape == rgb.shape
    error = np.abs(image[:, :, ::-1].astype(int) - rgb.astype(int))
    assert error.max() == 0 if fmt == "png" else np.median(error) <= 3


@pytest.mark.parametrize(
    ("fmt", "data", "reason"),
    [
        ("jpeg", b"", "no data"),
        ("jpeg", b"\xff\xd8\xff garbage that is not a jpeg", "cannot decode"),
        ("png", bytes(100), "cannot decode"),
        ("16UC1; compressedDepth png", b"\x00" * 20, "unsupported compressed format"),
    ],
)
def test_corrupt_compressed_images_raise(fmt: str, data: bytes, reason: str) -> None:
    with pytest.raises(ImageFormatError, match=reason):
        decode_compressed(fmt, data)


def test_label_masks_survive_png_exactly() -> None:
    labels = np.random.default_rng(0).integers(0, 12, (24, 36), dtype=np.uint8)
    decoded, _ = decode_compressed("mono8; png compressed", encode_compressed(labels, "png"))
    assert np.array_equal(decoded[:, :, 0], labels)


def test_rgb8_and_bgr8_decode_without_copying() -> None:
    rgb = blocks()
    for encoding in ("rgb8", "bgr8"):
        step, data = encode_image(rgb, encoding, row_padding=4)
        buffer = np.frombuffer(data, np.uint8)
        image, _ = decode_image(encoding, rgb.shape[0], rgb.shape[1], step, False, buffer)
        assert np.shares_memory(image, buffer)


def test_conversion_benchmark_covers_every_encoding() -> None:
    from stdc_ros.bench.codec import bench_codec

    results = bench_codec(36, 48, repeats=2, show=False)  # figures come from `stdc-ros bench`, not from here
    assert set(SUPPORTED_ENCODINGS) <= set(results)
    assert all(value > 0 for value in results.values())


def png_declaring(height: int, width: int) -> bytes:
    """A PNG whose header declares height x width (valid CRCs) and whose data is a few zero rows."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(bytes((3 * width + 1) * 4))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def jpeg_declaring(height: int, width: int) -> bytes:
    """A real small JPEG with its SOF0 frame header rewritten to declare height x width."""
    data = bytearray(encode_compressed(blocks(), "jpeg"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize(("fmt", "data"), [("png", png_declaring(12000, 12000)), ("jpeg", jpeg_declaring(12000, 9000))])
def test_oversized_compressed_images_are_refused_from_the_header(
    fmt: str, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decoding(*_args: object) -> None:
        raise AssertionError("the image was decoded before its size was checked")

    monkeypatch.setattr("stdc_ros.image_codec.cv2.imdecode", no_decoding)
    with pytest.raises(ImageFormatError, match="exceeds"):
        decode_compressed(fmt, data)
    assert compressed_size(np.frombuffer(data, np.uint8)) == ((12000, 12000) if fmt == "png" else (12000, 9000))


def test_a_real_png_of_huge_dimensions_is_refused_from_its_header_without_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    import PIL.Image
    import PIL.ImageFile

    # A genuine, valid 5000x4000 PNG (20 M pixels, above the default 16.7 M limit): 1-bit black compresses to a
    # few KB on the wire but would decode to a 60 MB BGR frame.
    stream = io.BytesIO()
    PIL.Image.new("1", (5000, 4000)).save(stream, "PNG")
    data = stream.getvalue()
    assert len(data) < 64 * 1024

    def never(*_args: object) -> None:
        raise AssertionError("pixels were decoded before the size was checked")

    monkeypatch.setattr("stdc_ros.image_codec.cv2.imdecode", never)
    monkeypatch.setattr(PIL.ImageFile.ImageFile, "load", never)  # Pillow's lazy open reads only the header
    with pytest.raises(ImageFormatError, match="compressed image 4000x5000 exceeds 16777216 pixels"):
        decode_compressed("png", data)
    with pytest.raises(ImageFormatError, match="exceeds 19999999 pixels"):
        decode_compressed("png", data, max_pixels=19_999_999)
