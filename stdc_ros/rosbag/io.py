"""Reading and writing rosbag2 (MCAP or sqlite3) with the rosbags library; every failure becomes a BagError."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BagError

LOG = logging.getLogger(__name__)

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
STORAGES = ("mcap", "sqlite3")


def typestore() -> Any:
    """The rosbags type store of the ROS 2 release this package targets (Kilted, or the newest one known)."""
    from rosbags.typesys import Stores, get_typestore

    store = getattr(Stores, "ROS2_KILTED", None) or Stores.LATEST
    return get_typestore(store)


@dataclass(frozen=True)
class TopicSummary:
    name: str
    msgtype: str
    count: int


@dataclass(frozen=True)
class BagSummary:
    path: Path
    storage: str
    start_ns: int
    end_ns: int
    message_count: int
    topics: tuple[TopicSummary, ...]

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    def topic(self, name: str) -> TopicSummary | None:
        return next((t for t in self.topics if t.name == name), None)

    def of_types(self, *msgtypes: str) -> list[TopicSummary]:
        return [t for t in self.topics if t.msgtype in msgtypes]

    def describe(self) -> str:
        lines = [f"{self.path} ({self.storage}, {self.message_count} messages, {self.duration_s:.2f} s)"]
        lines += [f"  {t.name} [{t.msgtype}] x{t.count}" for t in self.topics]
        return "\n".join(lines)


def _storage_of(path: Path) -> str:
    if path.is_file():
        return {".mcap": "mcap", ".db3": "sqlite3"}.get(path.suffix, path.suffix)
    files = [p.suffix for p in path.iterdir() if p.is_file()]
    return "mcap" if ".mcap" in files else "sqlite3" if ".db3" in files else "unknown"


@contextmanager
def open_bag(path: str | Path) -> Iterator[Any]:
    """An open ``rosbags.rosbag2.Reader``; a missing, unreadable or corrupt bag raises BagError."""
    from rosbags.rosbag2 import Reader

    path = Path(path)
    if not path.exists():
        raise BagError(f"bag not found: {path}")
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        raise BagError(f"{path} is not a rosbag2 folder (no metadata.yaml)")
    try:
        reader = Reader(path)
        reader.open()
    except BagError:
        raise
    except Exception as exc:  # rosbags raises ReaderError, KeyError, ValueError, OSError... on damaged bags
        hint = " (a recording cut short? `ros2 bag reindex` can rebuild it)" if "end magic" in str(exc) else ""
        raise BagError(f"cannot open bag {path}: {type(exc).__name__}: {exc}{hint}") from exc
    try:
        yield reader
    finally:
        try:
            reader.close()
        except Exception as exc:  # closing a half-read corrupt file must not hide the first error
            LOG.debug("closing %s: %s", path, exc)


def summarize(reader: Any) -> BagSummary:
    counts: dict[tuple[str, str], int] = {}
    for conn in reader.connections:
        key = (conn.topic, conn.msgtype)
        counts[key] = counts.get(key, 0) + conn.msgcount
    topics = tuple(TopicSummary(t, m, c) for (t, m), c in sorted(counts.items()))
    count = reader.message_count
    return BagSummary(
        Path(reader.path),
        _storage_of(Path(reader.path)),
        reader.start_time if count else 0,
        reader.end_time if count else 0,
        count,
        topics,
    )


def bag_summary(path: str | Path) -> BagSummary:
    with open_bag(path) as reader:
        return summarize(reader)


def messages(reader: Any, topics: Sequence[str] = ()) -> Iterator[tuple[str, str, int, bytes]]:
    """(topic, msgtype, log time ns, raw CDR) in storage order; a damaged stream raises BagError."""
    conns = [c for c in reader.connections if not topics or c.topic in topics]
    if topics and not conns:
        return
    stream = reader.messages(connections=conns)
    while True:
        try:
            conn, stamp, raw = next(stream)
        except StopIteration:
            return
        except Exception as exc:
            raise BagError(f"bag {reader.path} is corrupt: {type(exc).__name__}: {exc}") from exc
        yield conn.topic, conn.msgtype, stamp, raw


def pick_image_topic(summary: BagSummary, requested: str | None = None, preferred: str | None = None) -> TopicSummary:
    """The camera topic to use: ``requested`` if given, else ``preferred`` if present, else the first Image
    topic (that is not a label/mask/overlay output), else the first CompressedImage topic."""
    if requested:
        topic = summary.topic(requested)
        if topic is None:
            raise BagError(f"{summary.path} has no topic {requested}; it has: {_names(summary)}")
        if topic.msgtype not in IMAGE_TYPES:
            raise BagError(f"topic {requested} in {summary.path} is {topic.msgtype}, not an image type this tool reads")
        if topic.count == 0:
            raise BagError(f"topic {requested} in {summary.path} has no messages")
        return topic
    images = [t for t in summary.topics if t.msgtype in IMAGE_TYPES and t.count > 0]
    if preferred and (topic := next((t for t in images if t.name == preferred), None)) is not None:
        return topic
    candidates = [t for t in images if t.msgtype == IMAGE and not _looks_like_labels(t.name)]
    candidates += [t for t in images if t.msgtype == COMPRESSED_IMAGE]
    if not candidates:
        raise BagError(
            f"{summary.path} has no image topic (sensor_msgs/Image or CompressedImage); it has: {_names(summary)}"
        )
    return candidates[0]


def _looks_like_labels(topic: str) -> bool:
    return any(word in topic for word in ("label", "mask", "overlay", "/out/", "color", "gt"))


def _names(summary: BagSummary) -> str:
    return ", ".join(f"{t.name} [{t.msgtype}]" for t in summary.topics) or "no topics"


class BagWriter:
    """A rosbag2 writer (rosbags) that adds a connection per topic the first time it is written."""

    def __init__(self, path: Path, storage: str = "mcap", overwrite: bool = False) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        if storage not in STORAGES:
            raise BagError(f"unknown bag storage {storage!r}; choose one of {', '.join(STORAGES)}")
        path = Path(path)
        if path.exists():
            if not overwrite:
                raise BagError(f"{path} exists already; choose another name or allow overwriting")
            if not (path / "metadata.yaml").is_file() and any(path.iterdir()):
                raise BagError(f"refusing to overwrite {path}: it is not an empty folder or a rosbag2")
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.store = typestore()
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(path, version=9, storage_plugin=plugin)
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()

    def set_custom_data(self, key: str, value: str) -> None:
        self._writer.set_custom_data(key, value)

    def has_type(self, msgtype: str) -> bool:
        return msgtype in self.store.types

    def connection(self, topic: str, msgtype: str) -> Any:
        conn = self._connections.get(topic)
        if conn is None:
            if not self.has_type(msgtype):
                raise BagError(f"cannot write topic {topic}: message type {msgtype} is unknown to the type store")
            conn = self._writer.add_connection(topic, msgtype, typestore=self.store)
            self._connections[topic] = conn
        elif conn.msgtype != msgtype:
            raise BagError(f"topic {topic} written with two types: {conn.msgtype} and {msgtype}")
        return conn

    def write_raw(self, topic: str, msgtype: str, log_ns: int, raw: bytes | memoryview) -> None:
        self._writer.write(self.connection(topic, msgtype), int(log_ns), raw)

    def write(self, topic: str, msg: Any, log_ns: int) -> None:
        msgtype = msg.__msgtype__
        self.write_raw(topic, msgtype, log_ns, self.store.serialize_cdr(msg, msgtype))
