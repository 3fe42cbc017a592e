"""make-bag, read back with rosbags: types, stamps, pixels and labels exact, camera_info as documented."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from stdc_ros.cli_options import options_from
from stdc_ros.drivable.intrinsics import Intrinsics
from stdc_ros.errors import BagError
from stdc_ros.rosbag import make_bag as make_bag_module
from stdc_ros.rosbag.camera import CAMVID_INTRINSICS, load_calibration
from stdc_ros.rosbag.codec import decode_to_rgb, labels_from_msg
from stdc_ros.rosbag.make_bag import BagTopics, make_bag

from ..bagtools import START_NS

STORE = get_typestore(Stores.ROS2_KILTED)


def read_all(path: Path) -> dict[str, list[tuple[int, object]]]:
    """topic -> [(log time, deserialized message)] using rosbags only."""
    out: dict[str, list[tuple[int, object]]] = {}
    with Reader(path) as reader:
        for conn, stamp, raw in reader.messages():
            out.setdefault(conn.topic, []).append((stamp, STORE.deserialize_cdr(raw, conn.msgtype)))
    return out


def header_ns(msg: object) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec  # type: ignore[attr-defined]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_round_trip_exact(tmp_path: Path, sample_dirs: tuple[Path, Path], storage: str) -> None:
    images, labels = sample_dirs
    out = make_bag(
        images,
        tmp_path / "bag",
        labels,
        rate_hz=5.0,
        compressed=True,
        storage=storage,
        compressed_format="png",
        limit=3,
        start_time_ns=START_NS,
        progress=False,
    )
    assert (out / "metadata.yaml").is_file()
    assert any(out.glob("*.mcap" if storage == "mcap" else "*.db3"))
    with Reader(out) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
    topics = BagTopics()
    assert types == {
        topics.image: "sensor_msgs/msg/Image",
        topics.compressed: "sensor_msgs/msg/CompressedImage",
        topics.camera_info: "sensor_msgs/msg/CameraInfo",
        topics.labels: "sensor_msgs/msg/Image",
    }
    msgs = read_all(out)
    frames = sorted(images.glob("*.png"))[:3]
    expected_stamps = [START_NS + i * 200_000_000 for i in range(3)]
    for topic in types:
        assert [t for t, _ in msgs[topic]] == expected_stamps, topic
        assert [header_ns(m) for _, m in msgs[topic]] == expected_stamps, topic
        assert all(m.header.frame_id == "camera" for _, m in msgs[topic])  # type: ignore[attr-defined]
    for i, frame in enumerate(frames):
        rgb = cv2.cvtColor(cv2.imread(str(frame)), cv2.COLOR_BGR2RGB)
        image = msgs[topics.image][i][1]
        assert (image.encoding, image.height, image.width, image.step) == ("rgb8", 360, 480, 1440)
        assert np.array_equal(decode_to_rgb(image.encoding, image.height, image.width, image.step, 0, image.data), rgb)
        png = msgs[topics.compressed][i][1]
        assert "png" in png.format
        assert np.array_equal(cv2.cvtColor(cv2.imdecode(png.data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), rgb)
        gt = msgs[topics.labels][i][1]
        assert gt.encoding == "mono8"
        assert np.array_equal(labels_from_msg(gt), cv2.imread(str(labels / frame.name), cv2.IMREAD_UNCHANGED))
        info = msgs[topics.camera_info][i][1]
        assert (info.width, info.height, info.distortion_model) == (480, 360, "plumb_bob")
        assert np.allclose(info.k, [432, 0, 239.5, 0, 432, 179.5, 0, 0, 1])
        assert np.allclose(info.p, [432, 0, 239.5, 0, 0, 432, 179.5, 0, 0, 0, 1, 0])


@pytest.mark.parametrize("encoding", ["bgr8", "mono8", "rgba8"])
def test_encodings(tmp_path: Path, sample_dirs: tuple[Path, Path], encoding: str) -> None:
    images, _ = sample_dirs
    out = make_bag(images, tmp_path / "bag", encoding=encoding, limit=1, start_time_ns=START_NS, progress=False)
    image = read_all(out)[BagTopics.image][0][1]
    rgb = cv2.cvtColor(cv2.imread(str(sorted(images.glob("*.png"))[0])), cv2.COLOR_BGR2RGB)
    channels = {"bgr8": 3, "mono8": 1, "rgba8": 4}[encoding]
    assert (image.encoding, image.step) == (encoding, 480 * channels)
    pixels = np.asarray(image.data).reshape(360, 480, channels)
    if encoding == "bgr8":
        assert np.array_equal(pixels, rgb[:, :, ::-1])
    elif encoding == "rgba8":
        assert np.array_equal(pixels[:, :, :3], rgb) and (pixels[:, :, 3] == 255).all()
    else:
        assert np.array_equal(pixels[:, :, 0], cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))


def test_compressed_only_and_custom_camera(tmp_path: Path, sample_dirs: tuple[Path, Path]) -> None:
    images, _ = sample_dirs
    camera = Intrinsics(width=960, height=720, fx=800, fy=810, cx=479.5, cy=359.5)
    out = make_bag(
        images,
        tmp_path / "bag",
        compressed=True,
        raw=False,
        camera=camera,
        limit=2,
        start_time_ns=START_NS,
        progress=False,
    )
    msgs = read_all(out)
    assert set(msgs) == {BagTopics.compressed, BagTopics.camera_info}
    info = msgs[BagTopics.camera_info][0][1]
    assert np.allclose(info.k, [400, 0, 239.5, 0, 405, 179.5, 0, 0, 1])  # scaled to the 480x360 frames


def test_intrinsics_assumption_and_calibration_file(tmp_path: Path) -> None:
    assert 57 < CAMVID_INTRINSICS.horizontal_fov_deg < 59
    calib = tmp_path / "cam.yaml"
    calib.write_text(
        "image_width: 640\nimage_height: 480\ncamera_name: cam\n"
        "camera_matrix: {rows: 3, cols: 3, data: [500, 0, 320, 0, 505, 240, 0, 0, 1]}\n"
        "distortion_model: plumb_bob\ndistortion_coefficients: {rows: 1, cols: 5, data: [0.1, 0, 0, 0, 0]}\n"
    )
    cam = load_calibration(calib)
    assert (cam.width, cam.fx, cam.fy, cam.cx, cam.cy, cam.distortion[0]) == (640, 500, 505, 320, 240, 0.1)
    calib.write_text("image_width: 640\n")
    with pytest.raises(BagError, match="camera calibration"):
        load_calibration(calib)


def test_errors(tmp_path: Path, sample_dirs: tuple[Path, Path]) -> None:
    images, _ = sample_dirs
    with pytest.raises(BagError, match="image folder not found"):
        make_bag(tmp_path / "missing", tmp_path / "a", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match="no images"):
        make_bag(tmp_path / "empty", tmp_path / "a", progress=False)
    with pytest.raises(BagError, match="encoding"):
        make_bag(images, tmp_path / "a", encoding="rgb9", progress=False)
    made = make_bag(images, tmp_path / "b", limit=1, progress=False)
    with pytest.raises(BagError, match="exists"):
        make_bag(images, made, limit=1, progress=False)
    make_bag(images, made, limit=1, overwrite=True, progress=False)
    bad_labels = tmp_path / "labels"
    bad_labels.mkdir()
    first = sorted(images.glob("*.png"))[0]
    cv2.imwrite(str(bad_labels / first.name), np.zeros((10, 10), np.uint8))
    with pytest.raises(BagError, match="is \\(10, 10\\)"):
        make_bag(images, tmp_path / "c", bad_labels, limit=1, progress=False)


def test_cli(tmp_path: Path, sample_dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    images, labels = sample_dirs
    parser = argparse.ArgumentParser(prog="stdc-ros make-bag")
    make_bag_module.add_arguments(parser)
    help_text = parser.format_help()
    for option in ("--labels", "--rate", "--encoding", "--compressed", "--storage", "--fx", "--calibration"):
        assert option in help_text
    out = tmp_path / "cli_bag"
    args = parser.parse_args(
        [
            str(images),
            str(out),
            "--labels",
            str(labels),
            "--limit",
            "2",
            "--storage",
            "sqlite3",
            "--fx",
            "500",
            "--start-time",
            "5",
            "--no-progress",
            "--topic-prefix",
            "cam",
        ]
    )
    assert make_bag_module.run(args) == 0
    msgs = read_all(out)
    assert set(msgs) == {"/cam/image_raw", "/cam/camera_info", "/cam/labels_gt"}
    assert msgs["/cam/camera_info"][1][0] == 6_000_000_000
    assert msgs["/cam/camera_info"][0][1].k[0] == 500
    assert make_bag_module.run(parser.parse_args([str(images), str(out), "--no-progress"])) == 2  # exists
    assert "exists" in caplog.text
    zero_focal = parser.parse_args([str(images), str(tmp_path / "zero_fx"), "--fx", "0", "--no-progress"])
    with pytest.raises(BagError, match=r"bad camera intrinsics.*focal"):
        make_bag_module.intrinsics_from_args(options_from(zero_focal, make_bag_module.MakeBagCommand))
    assert make_bag_module.run(zero_focal) == 2
    assert not (tmp_path / "zero_fx").exists()


def test_camera_info_fields_as_before(tmp_path: Path, sample_dirs: tuple[Path, Path]) -> None:
    """Every decoded camera_info field as the bag's own CameraIntrinsics wrote it (default and scaled camera,
    with distortion), so moving to the one Intrinsics type changed no bag; the intrinsics metadata too."""
    images, _ = sample_dirs
    camera = Intrinsics(
        fx=1000.0, fy=990.0, cx=639.5, cy=359.5, width=1280, height=720, distortion=(0.1, -0.2, 0.0, 0.0, 0.05)
    )
    for cam, (fx, fy, cx, cy, dist) in (
        (CAMVID_INTRINSICS, (432.0, 432.0, 239.5, 179.5, (0.0,) * 5)),
        (camera, (375.0, 495.0, 239.5, 179.5, (0.1, -0.2, 0.0, 0.0, 0.05))),  # 1280x720 -> 480x360
    ):
        out = make_bag(images, tmp_path / f"bag{fx}", camera=cam, limit=1, start_time_ns=START_NS, progress=False)
        info = read_all(out)[BagTopics.camera_info][0][1]
        assert (info.height, info.width, info.distortion_model) == (360, 480, "plumb_bob")
        assert (info.binning_x, info.binning_y) == (0, 0)
        assert (info.roi.x_offset, info.roi.y_offset, info.roi.height, info.roi.width) == (0, 0, 0, 0)
        assert not info.roi.do_rectify
        for field, values in (
            ("d", dist),
            ("k", (fx, 0, cx, 0, fy, cy, 0, 0, 1)),
            ("r", (1, 0, 0, 0, 1, 0, 0, 0, 1)),
            ("p", (fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0)),
        ):
            array = getattr(info, field)
            assert array.dtype == np.float64 and array.tolist() == list(values), field
        metadata = yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        stored = json.loads(metadata["custom_data"]["stdc_ros.intrinsics"])
        assert stored == {**dataclasses.asdict(cam), "distortion": list(cam.distortion)}
        assert list(stored) == sorted(stored)
