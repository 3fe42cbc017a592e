"""Detail ground truth on hand-made label maps whose boundaries are known exactly."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")  # needs torch: skipped where it is absent (a ROS install, .venv-jazzy)

import torch

from training.detail import boundary_map, detail_target

IGNORE = 11


def target(rows: list[list[int]]) -> torch.Tensor:
    return detail_target(torch.tensor([rows]), IGNORE)[0, 0].to(torch.int64)


def test_vertical_edge_on_even_column_widens_by_stride_two() -> None:
    labels = torch.zeros(1, 8, 8, dtype=torch.int64)
    labels[:, :, 4:] = 1
    t = detail_target(labels, IGNORE)[0, 0]
    # Stride 1 marks column 4 (higher-id side); stride 2 samples it and blows it up to columns 4-5.
    expected = torch.zeros(8, 8)
    expected[:, 4:6] = 1
    assert torch.equal(t, expected)


def test_vertical_edge_on_odd_column_is_one_pixel_wide() -> None:
    labels = torch.zeros(1, 8, 8, dtype=torch.int64)
    labels[:, :, 3:] = 1
    t = detail_target(labels, IGNORE)[0, 0]
    expected = torch.zeros(8, 8)
    expected[:, 3] = 1  # stride 2 samples even columns only, so it adds nothing here
    assert torch.equal(t, expected)


def test_image_border_is_not_an_edge() -> None:
    # The reference's zero padding would outline every non-zero class along the border.
    assert target([[5] * 6 for _ in range(6)]).sum() == 0


def test_ignore_regions_make_no_boundaries() -> None:
    rows = [[2] * 8 for _ in range(8)]
    for i in range(2, 6):
        for j in range(2, 6):
            rows[i][j] = IGNORE
    assert target(rows).sum() == 0
    # Ignore pixels are never boundaries themselves, even next to a lower class.
    rows[0][0] = 0
    t = target(rows)
    assert t[3, 3] == 0 and t[2, 2] == 0


def test_middle_class_between_lower_and_higher_is_marked() -> None:
    # The reference Laplacian cancels to 0 on the id-1 stripe (8*1 - 3*0 - 3*2 - 2*1); ours marks it.
    b = boundary_map(torch.tensor([[[0, 0, 0, 1, 2, 2, 2]] * 5]), IGNORE)[0]
    assert b[:, 3].all() and b[:, 4].all()
    assert not b[:, :3].any() and not b[:, 5:].any()


def test_stride_four_alone_is_dropped_as_in_the_reference_fuse() -> None:
    labels = torch.zeros(1, 12, 12, dtype=torch.int64)
    labels[0, 4, 4] = 1
    t = detail_target(labels, IGNORE)[0, 0]
    # Only the pixel itself (stride 1) and its 2x2 stride-2 block survive; the rest of the 4x4 block
    # fuses to exactly 0.1, which is not above the 0.1 threshold.
    expected = torch.zeros(12, 12)
    expected[4:6, 4:6] = 1
    assert torch.equal(t, expected)


def test_any_size_and_batch() -> None:
    labels = torch.randint(0, 12, (3, 7, 9))
    t = detail_target(labels, IGNORE)
    assert t.shape == (3, 1, 7, 9) and t.dtype == torch.float32
    assert set(t.unique().tolist()) <= {0.0, 1.0}
    # Each sample is computed independently of the others in the batch.
    assert torch.equal(t[1], detail_target(labels[1:2], IGNORE)[0])
