"""Image-space mask: class selection, clean-up, ego-connected filtering on hand-made label maps."""

from __future__ import annotations

import numpy as np
import pytest

from stdc_ros.drivable import DrivableConfig
from stdc_ros.drivable.mask import drivable_mask, seed_rows_cols

H, W = 120, 160
ROAD = 3


def config(**changes: object) -> DrivableConfig:
    return DrivableConfig.from_mapping({"morph_kernel": 0, **changes})


def road_with_median() -> np.ndarray:
    """The ego road (bottom, centre) and a second carriageway on the right behind a 10-pixel median."""
    labels = np.zeros((H, W), dtype=np.uint8)
    labels[60:, 30:100] = ROAD
    labels[40:, 110:155] = ROAD
    return labels


def test_ego_connected_keeps_only_the_region_at_the_seed() -> None:
    labels = road_with_median()
    mask = drivable_mask(labels, config(ego_connected=True))
    assert mask.dtype == np.uint8 and mask.shape == (H, W)
    assert set(np.unique(mask)) == {0, 255}
    assert np.all(mask[60:, 30:100] == 255)
    assert np.all(mask[:, 100:] == 0), "the road across the median is not reachable"

    everything = drivable_mask(labels, config(ego_connected=False))
    assert np.array_equal(everything == 255, labels == ROAD)


def test_far_junction_connected_through_the_road_is_kept() -> None:
    labels = road_with_median()
    labels[60:65, 90:120] = ROAD  # a cross street through the median joining both carriageways
    mask = drivable_mask(labels, config())
    assert np.all(mask[40:, 110:155] == 255)


def test_diagonal_touch_needs_eight_connectivity() -> None:
    labels = np.zeros((H, W), dtype=np.uint8)
    labels[80:, 40:120] = ROAD
    labels[60:80, 120:140] = ROAD  # touches the ego road only at the corner pixel (79, 120) / (80, 119)
    four = drivable_mask(labels, config(connectivity=4))
    eight = drivable_mask(labels, config(connectivity=8))
    assert np.all(four[60:80, 120:140] == 0)
    assert np.all(eight[60:80, 120:140] == 255)


def test_nothing_is_drivable_when_the_seed_sees_no_road() -> None:
    labels = np.zeros((H, W), dtype=np.uint8)
    labels[50:100, :] = ROAD  # road ends above a bonnet covering the bottom 20 rows
    assert not drivable_mask(labels, config()).any()
    lifted = drivable_mask(labels, config(seed_offset=0.2))  # seed starts 24 rows up, on the road
    assert np.all(lifted[50:100] == 255)


def test_seed_region_geometry() -> None:
    rows, cols = seed_rows_cols((H, W), config(seed_width=0.5, seed_height=0.1, seed_offset=0.25))
    assert (rows.start, rows.stop) == (78, 90)
    assert (cols.start, cols.stop) == (40, 120)


def test_several_components_inside_the_seed_are_all_kept() -> None:
    labels = np.zeros((H, W), dtype=np.uint8)
    labels[70:, 55:75] = ROAD  # two lanes split by a 10-pixel barrier running through the seed
    labels[70:, 85:105] = ROAD
    mask = drivable_mask(labels, config())
    assert np.array_equal(mask == 255, labels == ROAD)


def test_clean_up_removes_specks_and_fills_holes() -> None:
    labels = np.zeros((H, W), dtype=np.uint8)
    labels[60:, 20:140] = ROAD
    labels[80:83, 60:63] = 0  # a small hole (lane-marking mislabel) inside the road
    labels[20:22, 20:22] = ROAD  # a speck far away (off the ego road anyway)
    off = drivable_mask(labels, config(ego_connected=False))
    assert off[81, 61] == 0 and off[21, 21] == 255
    cleaned = drivable_mask(labels, config(morph_kernel=5, ego_connected=False))
    assert cleaned[81, 61] == 255, "closing fills the hole"
    assert cleaned[21, 21] == 0, "opening removes the speck"
    assert np.all(cleaned[70:110, 30:130] == 255)


def test_opening_cuts_thin_bridges_before_the_connectivity_test() -> None:
    labels = road_with_median()
    labels[70:72, 100:110] = ROAD  # a 2-pixel-high bridge across the median (say, a mislabelled crossing)
    bridged = drivable_mask(labels, config(morph_kernel=0))
    assert np.all(bridged[40:, 110:155] == 255)
    cut = drivable_mask(labels, config(morph_kernel=5))
    assert not cut[50:, 115:150].any(), "the 5-pixel opening removes the bridge, the far road is dropped"
    assert np.all(cut[70:110, 40:90] == 255)


def test_several_drivable_classes() -> None:
    labels = np.zeros((H, W), dtype=np.uint8)  # Cityscapes ids: 0 road, 9 parking, 1 sidewalk
    labels[80:, 40:120] = 0
    labels[:80] = 1
    labels[80:, :40] = 9
    labels[80:, 120:] = 1
    road_only = drivable_mask(labels, config(drivable_classes=[0]))
    with_parking = drivable_mask(labels, config(drivable_classes=[0, 9]))
    assert not road_only[:, :40].any() and road_only[100, 80] == 255
    assert np.all(with_parking[80:, :120] == 255)


def test_labels_must_be_uint8_2d() -> None:
    with pytest.raises(ValueError, match="uint8"):
        drivable_mask(np.zeros((H, W), dtype=np.int64), config())
    with pytest.raises(ValueError, match="uint8"):
        drivable_mask(np.zeros((H, W, 1), dtype=np.uint8), config())
