"""Helpers of the rosbag and evaluation tests: copy a bag with changes, write bags with unknown types, read topics
back; and their fixtures (small bags made from the bundled CamVid sample, a fake node command), which
test/rosbag/conftest.py and test/evaluation/conftest.py register."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

STORE = get_typestore(Stores.ROS2_KILTED)
START_NS = 1_000_000_000_000  # 1000 s: stamps of made test bags start here
UNKNOWN_TYPE = "acme_msgs/msg/Thing"

# (topic, msgtype, log ns, raw) -> replacement raw, or None to drop the message
Edit = Callable[[str, str, int, bytes], bytes | None]


def store_with_unknown() -> object:
    store = get_typestore(Stores.ROS2_KILTED)
    store.register(get_types_from_msg("std_msgs/Header header\nint32 value\n", UNKNOWN_TYPE))
    return store


def copy_bag(src: Path, dst: Path, edit: Edit | None = None, extra: list[tuple[str, str, int, bytes]] = ()) -> Path:
    """Copy ``src`` to a new MCAP bag ``dst``, passing each message through ``edit``, then adding ``extra``."""
    store = store_with_unknown()
    with Reader(src) as reader, Writer(dst, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns: dict[str, object] = {}

        def conn(topic: str, msgtype: str) -> object:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=store)
            return conns[topic]

        for c in reader.connections:  # every topic of the source, even when all its messages are dropped
            conn(c.topic, c.msgtype)
        for c, stamp, raw in reader.messages():
            data = edit(c.topic, c.msgtype, stamp, raw) if edit else raw
            if data is not None:
                writer.write(conn(c.topic, c.msgtype), stamp, data)
        for topic, msgtype, stamp, raw in extra:
            writer.write(conn(topic, msgtype), stamp, raw)
    return dst


def unknown_message(stamp_ns: int, value: int = 7) -> bytes:
    store = store_with_unknown()
    types = store.types  # type: ignore[attr-defined]
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id="x"
    )
    return bytes(store.serialize_cdr(types[UNKNOWN_TYPE](header=header, value=value), UNKNOWN_TYPE))  # type: ignore[attr-defined]


def constant_labels(raw: bytes, value: int) -> bytes:
    """A serialized mono8 Image like ``raw`` with every pixel ``value``."""
    msg = STORE.deserialize_cdr(raw, "sensor_msgs/msg/Image")
    msg.data = np.full_like(np.asarray(msg.data), value)
    return bytes(STORE.serialize_cdr(msg, "sensor_msgs/msg/Image"))


def topic_messages(path: Path, topic: str) -> list[tuple[int, object]]:
    with Reader(path) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        return [(t, STORE.deserialize_cdr(raw, c.msgtype)) for c, t, raw in reader.messages(connections=conns)]


# ------------------------------------------------------------------------------------------------ fixtures
HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "samples" / "camvid_demo"


@pytest.fixture(scope="session")
def sample_dirs() -> tuple[Path, Path]:
    """(images, labels) of the bundled CamVid sample."""
    return SAMPLE / "images", SAMPLE / "labels"


@pytest.fixture(scope="session")
def small_bag(tmp_path_factory: pytest.TempPathFactory, sample_dirs: tuple[Path, Path]) -> Path:
    """Four CamVid frames at 10 Hz (MCAP): rgb8 images, camera_info and ground truth."""
    from stdc_ros.rosbag.make_bag import make_bag

    images, labels = sample_dirs
    out = tmp_path_factory.mktemp("bags") / "small"
    return make_bag(images, out, labels, rate_hz=10.0, limit=4, start_time_ns=START_NS, progress=False)


@pytest.fixture(scope="session")
def fake_node_command() -> tuple[str, ...]:
    """Starts test/fake_node.py the way the evaluator starts `stdc-ros run`."""
    return (sys.executable, str(HERE / "fake_node.py"))
