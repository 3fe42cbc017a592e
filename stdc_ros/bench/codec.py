"""Time ``decode_image`` / ``decode_compressed`` per encoding at a camera resolution (p50 in milliseconds)."""

from __future__ import annotations

import time

import numpy as np

from ..image_codec import SUPPORTED_ENCODINGS, decode_compressed, decode_image, encode_compressed, encode_image


def _p50_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)


def bench_codec(height: int = 360, width: int = 480, repeats: int = 50, show: bool = True) -> dict[str, float]:
    """p50 decode time in ms for every supported encoding (plus JPEG and PNG), printed as a table."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    results: dict[str, float] = {}
    for encoding in SUPPORTED_ENCODINGS:
        step, data = encode_image(rgb, encoding)
        payload = np.frombuffer(data, np.uint8)

        def run(encoding: str = encoding, step: int = step, payload: np.ndarray = payload) -> None:
            decode_image(encoding, height, width, step, False, payload)

        results[encoding] = _p50_ms(run, repeats)
    for fmt in ("jpeg", "png"):
        blob = encode_compressed(rgb, fmt)  # type: ignore[arg-type]
        results[f"compressed {fmt}"] = _p50_ms(lambda blob=blob, fmt=fmt: decode_compressed(fmt, blob), repeats)
    if show:
        print(f"decode p50 at {height}x{width} ({repeats} runs)")
        for name, ms in results.items():
            print(f"  {name:<20s} {ms:8.3f} ms")
    return results


if __name__ == "__main__":
    bench_codec()
