"""A folder of serialized TensorRT engines with JSON sidecars; pure Python, so every rule is testable without a GPU.

An engine is only valid for the exact ONNX, TensorRT version (and the CUDA major it was built for: cu12 and cu13
wheels share a version string), GPU (name, compute capability, SM count, memory size: Orin modules share a name
and compute capability), precision, input shape and build options it was made with: the ``EngineKey``.

File name: ``<model>.<precision>.<h>x<w>.sm<cc>[.dla<n>].<slot>.engine``, where the slot is a hash of the key's
model-side fields (ONNX SHA-256, precision, shape, build options), so two models with the same file name get
their own files. The machine-side fields (TensorRT, CUDA, GPU) are checked against the sidecar: an engine from
another TensorRT or GPU in the same slot is "stale" and rebuilt in place, never handed to the deserialiser.
When a model file's contents change, the engine of its previous contents (same source path, same configuration)
is deleted once the new one is stored. A lookup checks the sidecar and the hash *before* anything is
deserialised:

- no engine or no sidecar -> build;
- sidecar key differs (TensorRT upgrade, other GPU, other CUDA build) -> "stale", rebuild, log which fields;
- sidecar unreadable, size or SHA-256 mismatch (truncated copy, disk error), or the loader rejects the bytes ->
  "corrupt", rebuild;
- folder not creatable or not writable -> build in memory with a warning (the engine is rebuilt next start).

Writes are atomic (temporary file + rename, engine before sidecar) and builds are serialised across processes
with a lock file, so a node and `stdc-ros build-engine` starting together build once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelFileError

log = logging.getLogger(__name__)

SIDECAR_FORMAT = "stdc_ros.engine/1"


def default_cache_dir() -> Path:
    """$STDC_ROS_ENGINE_CACHE, else $XDG_CACHE_HOME/stdc_ros/engines, else ~/.cache/stdc_ros/engines."""
    if os.environ.get("STDC_ROS_ENGINE_CACHE"):
        return Path(os.environ["STDC_ROS_ENGINE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stdc_ros" / "engines"


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class EngineKey:
    """Everything a serialized engine depends on; two equal keys may share an engine."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str  # "8.6"
    precision: str  # "fp16", "fp32", "int8"
    input_shape: tuple[int, ...]  # the optimisation profile's shape (min = opt = max), e.g. (1, 3, 360, 480)
    options: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # other build settings (workspace, ...)
    sm_count: int = 0  # multiprocessors: tells GPUs of one name and compute capability apart (Orin modules)
    total_memory_mib: int = 0
    cuda_major: int = 0  # the CUDA major TensorRT was built for (cu12 and cu13 wheels share a version string)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["options"] = {k: v for k, v in self.options}
        return data

    def differences(self, recorded: Mapping[str, Any]) -> list[str]:
        """'field: recorded -> expected' for every field where a sidecar's key differs from this one."""
        mine = self.as_json()
        return [f"{k}: {recorded.get(k)!r} -> {v!r}" for k, v in mine.items() if recorded.get(k) != v]

    def slot(self) -> str:
        """Hash of the model-side fields: engines of different models or configurations never share a file."""
        model_side = ("onnx_sha256", "precision", "input_shape", "options")
        fields = {k: v for k, v in self.as_json().items() if k in model_side}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class CachedEngine:
    data: bytes
    path: Path | None  # None when the engine lives only in memory (cache folder not writable)
    built: bool  # True when built by this call
    reason: str  # "hit", "missing", "stale: ...", "corrupt: ...", "forced"


class EngineCache:
    """Engines in ``folder`` (created on first write)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_dir()

    def engine_path(self, name: str, key: EngineKey) -> Path:
        return self.folder / f"{self._prefix(name, key)}.{key.slot()}.engine"

    @staticmethod
    def _prefix(name: str, key: EngineKey) -> str:
        """The configuration part of the file name; engines of one source differing only in the slot replace
        each other."""
        safe = re.sub(r"[^A-Za-z0-9_-]+", "_", name) or "model"
        shape = "x".join(str(d) for d in key.input_shape[-2:])
        cc = key.compute_capability.replace(".", "")
        dla = dict(key.options).get("dla_core")
        return f"{safe}.{key.precision}.{shape}.sm{cc}" + (f".dla{dla}" if dla is not None else "")

    @staticmethod
    def sidecar_path(engine: Path) -> Path:
        return engine.with_name(engine.name + ".json")

    def check(self, name: str, key: EngineKey) -> tuple[str, bytes | None]:
        """("hit", bytes) or (reason, None): "missing", "stale: <fields>", "corrupt: <why>". Reads, never writes."""
        engine = self.engine_path(name, key)
        sidecar = self.sidecar_path(engine)
        if not engine.is_file() or not sidecar.is_file():
            return "missing", None
        try:
            meta = json.loads(sidecar.read_text())
            if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
                return f"corrupt: {sidecar.name} is not a {SIDECAR_FORMAT} sidecar", None
            recorded = meta["key"]
            expected_size, expected_sha = int(meta["engine_bytes"]), str(meta["engine_sha256"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"corrupt: unreadable sidecar {sidecar.name} ({type(exc).__name__}: {exc})", None
        diffs = key.differences(recorded if isinstance(recorded, dict) else {})
        if diffs:
            return "stale: " + "; ".join(diffs), None
        try:
            data = engine.read_bytes()
        except OSError as exc:
            return f"corrupt: cannot read {engine.name} ({exc})", None
        if len(data) != expected_size:
            return f"corrupt: {engine.name} has {len(data)} bytes, sidecar says {expected_size}", None
        if hashlib.sha256(data).hexdigest() != expected_sha:
            return f"corrupt: {engine.name} SHA-256 differs from its sidecar", None
        return "hit", data

    def load_or_build(
        self,
        name: str,
        key: EngineKey,
        build: Callable[[], bytes],
        loadable: Callable[[bytes], bool] | None = None,
        force: bool = False,
        source: str | None = None,
    ) -> CachedEngine:
        """The cached engine for ``key`` or a freshly built one (saved when the folder is writable).

        ``build`` returns the serialized engine; ``loadable`` (optional) says whether the runtime can
        deserialise given bytes, so a file that passes the hash but is still rejected is rebuilt too.
        ``source`` (the model file's path) is recorded, and engines of that source's earlier contents in the
        same configuration are deleted once the new engine is stored.
        """
        reason, data = ("forced", None) if force else self.check(name, key)
        rejected = None
        if data is not None and loadable is not None and not loadable(data):
            reason, data, rejected = "corrupt: TensorRT could not deserialise the cached engine", None, data
        if data is not None:
            path = self.engine_path(name, key)
            log.info("using cached TensorRT engine %s", path)
            return CachedEngine(data, path, built=False, reason="hit")
        with self._build_lock() as locked:
            if locked and not force:
                # another process may have built it while we waited for the lock
                _, data = self.check(name, key)
                if data is not None and data != rejected and (loadable is None or loadable(data)):
                    log.info("using TensorRT engine %s built by another process", self.engine_path(name, key))
                    return CachedEngine(data, self.engine_path(name, key), built=False, reason="hit")
            self._log_rebuild(name, key, reason)
            start = time.monotonic()
            data = build()
            seconds = time.monotonic() - start
            if not data:
                raise ModelFileError(f"TensorRT engine build for {name} produced nothing (see the log above)")
            if loadable is not None and not loadable(data):
                raise ModelFileError(f"TensorRT could not deserialise the engine it just built for {name}")
            log.info("built TensorRT engine for %s in %.1f s (%.1f MB)", name, seconds, len(data) / 1e6)
            path = self._store(name, key, bytes(data), seconds, source)
            if path is not None and source is not None:
                self._remove_superseded(name, key, path, source)
            return CachedEngine(bytes(data), path, built=True, reason=reason)

    def _log_rebuild(self, name: str, key: EngineKey, reason: str) -> None:
        path = self.engine_path(name, key)
        if reason == "missing":
            log.info("no cached TensorRT engine %s: building it (this takes minutes)", path)
        elif reason == "forced":
            log.info("rebuilding TensorRT engine %s as asked", path)
        else:
            log.warning("cached TensorRT engine %s is %s; rebuilding it", path, reason)

    def _store(self, name: str, key: EngineKey, data: bytes, seconds: float, source: str | None) -> Path | None:
        engine = self.engine_path(name, key)
        sidecar = self.sidecar_path(engine)
        meta = {
            "format": SIDECAR_FORMAT,
            "key": key.as_json(),
            "engine_bytes": len(data),
            "engine_sha256": hashlib.sha256(data).hexdigest(),
            "build_seconds": round(seconds, 2),
            "source": source,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _atomic_write(engine, data)
            _atomic_write(sidecar, json.dumps(meta, indent=1).encode())
        except OSError as exc:
            log.warning(
                "cannot write the TensorRT engine cache %s (%s): using the engine from memory; "
                "it will be rebuilt at the next start. Point the cache to a writable folder.",
                self.folder,
                exc,
            )
            return None
        log.info("saved TensorRT engine %s", engine)
        return engine

    def _remove_superseded(self, name: str, key: EngineKey, keep: Path, source: str) -> None:
        """Delete engines built from an earlier version of ``source`` in the same configuration."""
        same_configuration = re.compile(re.escape(self._prefix(name, key)) + r"\.[0-9a-f]{12}\.engine")
        for engine in self.folder.glob("*.engine"):
            if engine == keep or not same_configuration.fullmatch(engine.name):
                continue
            sidecar = self.sidecar_path(engine)
            try:
                if json.loads(sidecar.read_text()).get("source") != source:
                    continue  # another model file of the same name: it keeps its engine
                engine.unlink()
                sidecar.unlink()
            except (OSError, ValueError, AttributeError):
                continue
            log.info("removed TensorRT engine %s of an earlier version of %s", engine.name, source)

    @contextlib.contextmanager
    def _build_lock(self) -> Iterator[bool]:
        """An exclusive lock on ``.build.lock`` in the folder; yields False (no lock) when it cannot be made."""
        try:
            import fcntl

            self.folder.mkdir(parents=True, exist_ok=True)
            handle = (self.folder / ".build.lock").open("a")
        except (ImportError, OSError):
            yield False
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
