"""Output message builders: header kept, sizes, palette, overlay, PNG labels, camera_info matched to the mask."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from stdc_ros.image_codec import decode_compressed
from stdc_ros.labels import load_label_set
from stdc_ros.node.outputs import blend, camera_info_for, colorize, image_msg, labels_png_msg


def header() -> Header:
    h = Header(frame_id="cam_optical")
    h.stamp.sec, h.stamp.nanosec = 12, 345
    return h


def test_label_color_and_overlay_images() -> None:
    labels = np.array([[0, 3], [8, 200]], np.uint8)
    palette = load_label_set("camvid").palette()
    msg = image_msg(header(), labels, "mono8")
    assert (msg.height, msg.width, msg.step, msg.encoding) == (2, 2, 2, "mono8")
    assert bytes(msg.data) == labels.tobytes() and msg.header.stamp.nanosec == 345
    color = colorize(labels, palette)
    assert color[0, 1].tolist() == [128, 64, 128] and color[1, 1].tolist() == [0, 0, 0]
    image = np.full((2, 2, 3), 100, np.uint8)
    image[..., 2] = 0  # BGR: red channel 0
    mixed = blend(image, "bgr", color, 0.5)
    assert mixed[0, 1].tolist() == [64, 82, 114]  # (rgb (0, 100, 100) + road) / 2
    assert blend(image, "rgb", color, 0.0).tolist() == image.tolist()


def test_labels_png_is_lossless() -> None:
    labels = np.random.default_rng(1).integers(0, 19, (30, 40), dtype=np.uint8)
    msg = labels_png_msg(header(), labels)
    assert msg.format == "mono8; png compressed" and msg.header.frame_id == "cam_optical"
    decoded, _ = decode_compressed(msg.format, bytes(msg.data))
    assert np.array_equal(decoded[:, :, 0], labels)


def camera_info(width: int, height: int) -> CameraInfo:
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    info.k = [400.0, 0.0, 319.5, 0.0, 410.0, 239.5, 0.0, 0.0, 1.0]
    info.p = [400.0, 0.0, 319.5, -40.0, 0.0, 410.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.header.frame_id = "old"
    return info


def test_camera_info_is_copied_with_the_image_header_when_sizes_match() -> None:
    out = camera_info_for(camera_info(640, 480), header(), 480, 640)
    assert out.header.frame_id == "cam_optical" and out.header.stamp.sec == 12
    assert list(out.k) == list(camera_info(640, 480).k) and (out.width, out.height) == (640, 480)


def test_camera_info_is_scaled_to_the_mask_when_sizes_differ() -> None:
    out = camera_info_for(camera_info(640, 480), header(), 240, 320)
    k = np.array(out.k).reshape(3, 3)
    assert (out.width, out.height) == (320, 240)
    assert k[0, 0] == pytest.approx(200.0) and k[1, 1] == pytest.approx(205.0)
    assert k[0, 2] == pytest.approx(159.5) and k[1, 2] == pytest.approx(119.5)  # centre stays the centre
    assert out.p[3] == pytest.approx(-20.0)


def test_camera_info_binning_and_roi_are_undone() -> None:
    info = camera_info(640, 480)
    info.binning_x = info.binning_y = 2
    out = camera_info_for(info, header(), 240, 320)  # the binned image
    assert out.k[0] == pytest.approx(200.0) and (out.binning_x, out.binning_y) == (0, 0)
    info = camera_info(640, 480)
    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = 100, 50, 320, 240
    out = camera_info_for(info, header(), 240, 320)  # the cropped image
    assert out.k[2] == pytest.approx(219.5) and out.k[5] == pytest.approx(189.5) and out.roi.width == 0
