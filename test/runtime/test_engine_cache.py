"""Engine cache rules without TensorRT: a real builder function produces engine bytes; files are really written."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

import pytest

from stdc_ros.errors import ModelFileError
from stdc_ros.runtime.engine_cache import EngineCache, EngineKey, default_cache_dir, file_sha256


def make_key(**changes: object) -> EngineKey:
    fields = {
        "onnx_sha256": "a" * 64,
        "tensorrt_version": "10.8.0",
        "gpu_name": "NVIDIA GeForce RTX 3060",
        "compute_capability": "8.6",
        "precision": "fp16",
        "input_shape": (1, 3, 360, 480),
        "options": (("workspace_mib", "1024"),),
        "sm_count": 28,
        "total_memory_mib": 12288,
        "cuda_major": 12,
    }
    fields.update(changes)
    return EngineKey(**fields)  # type: ignore[arg-type]


class FakeBuilder:
    """Stands in for TensorRT's builder: returns bytes that depend on the key, counts its builds."""

    def __init__(self, key: EngineKey, delay: float = 0.0) -> None:
        self.key = key
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> bytes:
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)
        payload = json.dumps(self.key.as_json(), sort_keys=True).encode()
        return b"FAKEPLAN" + hashlib.sha256(payload).digest() * 64  # a few KB, like a (tiny) plan file


def loads_fake(data: bytes) -> bool:
    """The runtime's deserialiser stand-in: accepts only what FakeBuilder makes."""
    return data.startswith(b"FAKEPLAN") and len(data) == 8 + 32 * 64


def test_miss_builds_and_writes_engine_and_sidecar(tmp_path: Path) -> None:
    cache, key = EngineCache(tmp_path / "engines"), make_key()
    build = FakeBuilder(key)
    got = cache.load_or_build("stdc1_camvid", key, build, loads_fake)
    assert got.built and got.reason == "missing" and build.calls == 1
    assert got.path == tmp_path / "engines" / f"stdc1_camvid.fp16.360x480.sm86.{key.slot()}.engine"
    assert got.path.read_bytes() == got.data
    sidecar = json.loads(EngineCache.sidecar_path(got.path).read_text())
    assert sidecar["key"] == key.as_json()
    assert sidecar["engine_sha256"] == file_sha256(got.path)
    assert sidecar["engine_bytes"] == len(got.data)
    assert not list((tmp_path / "engines").glob("*.tmp"))  # atomic writes leave no temporary files


def test_hit_does_not_build(tmp_path: Path) -> None:
    cache, key = EngineCache(tmp_path), make_key()
    first = cache.load_or_build("m", key, FakeBuilder(key), loads_fake)
    build = FakeBuilder(key)
    again = cache.load_or_build("m", key, build, loads_fake)
    assert not again.built and again.reason == "hit" and build.calls == 0
    assert again.data == first.data


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tensorrt_version", "10.9.0"),  # TensorRT upgrade
        ("gpu_name", "NVIDIA GeForce RTX 3070"),  # same compute capability, other GPU
        ("sm_count", 16),  # Orin modules share name and compute capability
        ("total_memory_mib", 32768),
        ("cuda_major", 13),  # cu12 and cu13 wheels share a version string
    ],
)
def test_stale_key_rebuilds_with_a_clear_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, field: str, value: object
) -> None:
    cache, old = EngineCache(tmp_path), make_key()
    cache.load_or_build("m", old, FakeBuilder(old))
    new = make_key(**{field: value})
    assert cache.engine_path("m", new) == cache.engine_path("m", old)  # same slot: the stale one is replaced
    build = FakeBuilder(new)
    with caplog.at_level(logging.INFO, logger="stdc_ros.runtime.engine_cache"):
        got = cache.load_or_build("m", new, build, loads_fake)
    assert got.built and build.calls == 1 and got.reason.startswith("stale")
    assert field in got.reason
    assert any("stale" in r.getMessage() and field in r.getMessage() for r in caplog.records)
    assert json.loads(EngineCache.sidecar_path(got.path).read_text())["key"] == new.as_json()
    assert cache.check("m", new)[0] == "hit"


def test_precision_shape_gpu_generation_options_and_dla_get_their_own_files(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    keys = [
        make_key(),
        make_key(precision="fp32"),
        make_key(input_shape=(1, 3, 720, 960)),
        make_key(compute_capability="8.7"),
        make_key(options=(("workspace_mib", "2048"),)),
        make_key(options=(("workspace_mib", "1024"), ("dla_core", "0"))),
        make_key(options=(("workspace_mib", "1024"), ("dla_core", "1"))),
    ]
    paths = {cache.load_or_build("m", k, FakeBuilder(k)).path for k in keys}
    assert len(paths) == len(keys)
    assert all(cache.check("m", k)[0] == "hit" for k in keys)
    assert {p.name.split(".")[4] for p in paths if ".dla" in p.name} == {"dla0", "dla1"}


def test_two_models_with_the_same_file_name_keep_their_own_engines(tmp_path: Path) -> None:
    """/a/stdc1.onnx and /b/stdc1.onnx (different weights) used to overwrite each other's slot."""
    cache = EngineCache(tmp_path)
    first, second = make_key(onnx_sha256="a" * 64), make_key(onnx_sha256="b" * 64)
    a = cache.load_or_build("stdc1", first, FakeBuilder(first), loads_fake, source="/a/stdc1.onnx")
    b = cache.load_or_build("stdc1", second, FakeBuilder(second), loads_fake, source="/b/stdc1.onnx")
    assert a.path != b.path and a.path.is_file() and b.path.is_file()
    for key in (first, second):
        build = FakeBuilder(key)
        assert not cache.load_or_build("stdc1", key, build, loads_fake).built and build.calls == 0


def test_new_weights_in_the_same_file_replace_the_old_engine(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    old, new = make_key(onnx_sha256="a" * 64), make_key(onnx_sha256="b" * 64)
    other = make_key(onnx_sha256="c" * 64)
    kept = cache.load_or_build("m", other, FakeBuilder(other), source="/elsewhere/m.onnx").path
    fp32 = make_key(onnx_sha256="a" * 64, precision="fp32")
    fp32_path = cache.load_or_build("m", fp32, FakeBuilder(fp32), source="/models/m.onnx").path
    first = cache.load_or_build("m", old, FakeBuilder(old), source="/models/m.onnx").path
    second = cache.load_or_build("m", new, FakeBuilder(new), source="/models/m.onnx").path
    assert second.is_file() and not first.exists() and not EngineCache.sidecar_path(first).exists()
    assert kept.is_file() and fp32_path.is_file()  # another file of that name, another configuration: kept


def corrupt_truncate(engine: Path) -> None:
    engine.write_bytes(engine.read_bytes()[:100])


def corrupt_flip_byte(engine: Path) -> None:
    data = bytearray(engine.read_bytes())
    data[len(data) // 2] ^= 0xFF
    engine.write_bytes(bytes(data))


def corrupt_sidecar_json(engine: Path) -> None:
    EngineCache.sidecar_path(engine).write_text("{not json")


def corrupt_sidecar_format(engine: Path) -> None:
    EngineCache.sidecar_path(engine).write_text(json.dumps({"format": "something else"}))


def remove_sidecar(engine: Path) -> None:
    EngineCache.sidecar_path(engine).unlink()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (corrupt_truncate, "corrupt"),
        (corrupt_flip_byte, "corrupt"),
        (corrupt_sidecar_json, "corrupt"),
        (corrupt_sidecar_format, "corrupt"),
        (remove_sidecar, "missing"),  # an engine without sidecar is never trusted
    ],
)
def test_damaged_cache_entries_are_rebuilt_before_deserialising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage, reason: str
) -> None:
    cache, key = EngineCache(tmp_path), make_key()
    first = cache.load_or_build("m", key, FakeBuilder(key))
    damage(first.path)
    seen: list[bytes] = []

    def loader(data: bytes) -> bool:
        seen.append(data)
        return loads_fake(data)

    build = FakeBuilder(key)
    with caplog.at_level(logging.INFO, logger="stdc_ros.runtime.engine_cache"):
        got = cache.load_or_build("m", key, build, loader)
    assert got.built and build.calls == 1 and got.reason.startswith(reason)
    assert seen == [got.data]  # the damaged bytes never reached the deserialiser
    assert cache.check("m", key)[0] == "hit"
    if reason == "corrupt":
        assert any(r.levelno == logging.WARNING and "corrupt" in r.getMessage() for r in caplog.records)


def test_engine_the_runtime_rejects_is_rebuilt(tmp_path: Path) -> None:
    """Hash matches but deserialisation fails (e.g. a driver change TensorRT notices): rebuild once."""
    cache, key = EngineCache(tmp_path), make_key()
    cache.load_or_build("m", key, FakeBuilder(key))
    attempts: list[int] = []

    def picky(data: bytes) -> bool:
        attempts.append(len(data))
        return len(attempts) > 1  # rejects the cached engine, accepts the rebuilt one

    build = FakeBuilder(key)
    got = cache.load_or_build("m", key, build, picky)
    assert got.built and build.calls == 1 and "deserialise" in got.reason


def test_build_that_cannot_be_loaded_or_is_empty_raises(tmp_path: Path) -> None:
    cache, key = EngineCache(tmp_path), make_key()
    with pytest.raises(ModelFileError, match="deserialise"):
        cache.load_or_build("m", key, FakeBuilder(key), loadable=lambda data: False)
    with pytest.raises(ModelFileError, match="produced nothing"):
        cache.load_or_build("m", key, lambda: b"")
    assert cache.check("m", key)[0] == "missing"  # nothing half-written was left behind


def test_unwritable_folder_falls_back_to_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A regular file where the folder should be: mkdir fails for every user, root included.
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    cache, key = EngineCache(blocker / "engines"), make_key()
    build = FakeBuilder(key)
    with caplog.at_level(logging.WARNING, logger="stdc_ros.runtime.engine_cache"):
        got = cache.load_or_build("m", key, build, loads_fake)
    assert got.built and got.path is None and loads_fake(got.data)
    assert any("cannot write the TensorRT engine cache" in r.getMessage() for r in caplog.records)
    # every start rebuilds in that case, and says so
    again = cache.load_or_build("m", key, build, loads_fake)
    assert again.built and build.calls == 2


def test_force_rebuilds_a_valid_engine(tmp_path: Path) -> None:
    cache, key = EngineCache(tmp_path), make_key()
    cache.load_or_build("m", key, FakeBuilder(key))
    build = FakeBuilder(key)
    got = cache.load_or_build("m", key, build, loads_fake, force=True)
    assert got.built and got.reason == "forced" and build.calls == 1


def test_concurrent_starts_build_once(tmp_path: Path) -> None:
    """A node and `stdc-ros build-engine` starting together: the second waits for the first's engine."""
    cache, key = EngineCache(tmp_path), make_key()
    build = FakeBuilder(key, delay=0.3)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.load_or_build("m", key, build, loads_fake)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert build.calls == 1
    assert sorted(r.built for r in results) == [False, False, True]
    assert len({r.data for r in results}) == 1


def test_key_differences_and_file_names(tmp_path: Path) -> None:
    key = make_key()
    assert key.differences(key.as_json()) == []
    diffs = key.differences({**key.as_json(), "tensorrt_version": "10.3.0"})
    assert diffs == ["tensorrt_version: '10.3.0' -> '10.8.0'"]
    odd = EngineCache(tmp_path).engine_path("my model/v2", key)
    assert odd.parent == tmp_path and "/" not in odd.name and odd.name.endswith(".engine")


def test_default_cache_dir_honours_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STDC_ROS_ENGINE_CACHE", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("STDC_ROS_ENGINE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache" / "stdc_ros" / "engines"
