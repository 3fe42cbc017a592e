"""OHEM cross-entropy, BCE + Dice and the total loss against values worked out by hand."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("torch")  # needs torch: skipped where it is absent (a ROS install, .venv-jazzy)

import torch

from stdc_ros.network import TrainOutputs
from training.losses import LossWeights, STDCLoss, detail_loss, dice_loss, ohem_cross_entropy

IGNORE = 11


def two_class_logits(z: list[float]) -> torch.Tensor:
    """(1, 2, 1, N) logits [0, z] so that with label 0 each pixel's CE is ln(1 + e^z)."""
    values = torch.tensor(z, dtype=torch.float64)
    return torch.stack([torch.zeros_like(values), values]).reshape(1, 2, 1, -1)


def ce(z: float) -> float:
    return math.log1p(math.exp(z))


THRESH_Z = math.log(1 / 0.7 - 1)  # CE(z) == -ln(0.7) exactly here


def test_ohem_keeps_the_n_min_hardest_when_few_exceed_the_threshold() -> None:
    z = [3.0] + [-4.0] * 31  # 32 pixels -> n_min = 2; only one above -ln 0.7
    loss = ohem_cross_entropy(two_class_logits(z), torch.zeros(1, 1, 32, dtype=torch.int64), IGNORE)
    assert float(loss) == pytest.approx((ce(3.0) + ce(-4.0)) / 2, rel=1e-9)


def test_ohem_averages_everything_above_the_threshold_when_many_do() -> None:
    z = [2.0, 1.0, 0.5] + [-4.0] * 29
    loss = ohem_cross_entropy(two_class_logits(z), torch.zeros(1, 1, 32, dtype=torch.int64), IGNORE)
    assert THRESH_Z < 0.5
    assert float(loss) == pytest.approx((ce(2.0) + ce(1.0) + ce(0.5)) / 3, rel=1e-9)


def test_ohem_skips_ignored_pixels_and_handles_all_ignored() -> None:
    z = [5.0, 3.0] + [-4.0] * 30
    labels = torch.zeros(1, 1, 32, dtype=torch.int64)
    labels[0, 0, 0] = IGNORE  # the hardest pixel is ignored
    labels[0, 0, 16:] = IGNORE  # 15 labelled pixels left -> n_min = 1
    loss = ohem_cross_entropy(two_class_logits(z), labels, IGNORE)
    assert float(loss) == pytest.approx(ce(3.0), rel=1e-9)
    labels[:] = IGNORE
    zero = ohem_cross_entropy(two_class_logits(z).requires_grad_(), labels, IGNORE)
    assert float(zero.detach()) == 0.0 and zero.requires_grad


def test_dice_and_bce_by_hand() -> None:
    logits = torch.zeros(2, 1, 2, 4)  # p = 0.5 everywhere
    target = torch.zeros(2, 1, 2, 4)
    target[0, 0, 0, :3] = 1  # sample 0: 3 of 8 pixels are detail; sample 1: none
    d0 = 1 - (2 * 0.5 * 3 + 1) / (0.5 * 8 + 3 + 1)
    d1 = 1 - (0 + 1) / (0.5 * 8 + 0 + 1)
    assert float(dice_loss(logits, target)) == pytest.approx((d0 + d1) / 2, rel=1e-6)
    bce, dice = detail_loss(logits, target)
    assert float(bce) == pytest.approx(math.log(2), rel=1e-6)
    assert float(dice) == pytest.approx((d0 + d1) / 2, rel=1e-6)


def test_detail_logits_are_resized_to_the_label_size() -> None:
    bce, _ = detail_loss(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 8, 8))
    assert float(bce) == pytest.approx(math.log(2), rel=1e-6)


def test_total_loss_combines_weighted_terms() -> None:
    torch.manual_seed(0)
    outputs = TrainOutputs(*(torch.randn(2, c, 16, 16) for c in (11, 11, 11, 1)))
    labels = torch.randint(0, 12, (2, 16, 16))
    total, terms = STDCLoss(IGNORE)(outputs, labels)
    assert set(terms) == {"main", "aux8", "aux16", "detail_bce", "detail_dice"}
    assert float(total) == pytest.approx(sum(terms.values()), rel=1e-5)
    weights = LossWeights(main=2.0, aux8=0.5, aux16=0.0, detail_bce=3.0, detail_dice=1.0)
    weighted, t = STDCLoss(IGNORE, weights)(outputs, labels)
    expected = 2 * t["main"] + 0.5 * t["aux8"] + 3 * t["detail_bce"] + t["detail_dice"]
    assert float(weighted) == pytest.approx(expected, rel=1e-5)
    no_detail, t2 = STDCLoss(IGNORE, use_detail=False)(outputs, labels)
    assert set(t2) == {"main", "aux8", "aux16"}
    assert float(no_detail) == pytest.approx(sum(t2.values()), rel=1e-5)


def test_weighted_ohem_chooses_by_hardness_and_averages_with_class_weights() -> None:
    z = [2.0, 1.0, 0.5] + [-4.0] * 29  # the same three hard pixels as above
    labels = torch.zeros(1, 1, 32, dtype=torch.int64)
    logits = torch.zeros(1, 3, 1, 32, dtype=torch.float64)
    logits[0, 1, 0] = torch.tensor(z, dtype=torch.float64)  # label-0 pixels: CE = ln(1 + e^z) as above
    logits[0, 2] = -50.0
    labels[0, 0, 1] = 2  # the second hard pixel is class 2, given almost no probability: the hardest of all
    weights = torch.tensor([1.0, 0.0, 4.0])
    losses = torch.nn.functional.cross_entropy(logits, labels, reduction="none").flatten()
    hard = [i for i in range(32) if float(losses[i]) > -math.log(0.7)]
    assert hard == [0, 1, 2]  # unchanged by the weights: selection is by unweighted loss
    w = [1.0, 4.0, 1.0]
    expected = sum(w[k] * float(losses[i]) for k, i in enumerate(hard)) / sum(w)
    loss = ohem_cross_entropy(logits, labels, IGNORE, class_weights=weights)
    assert float(loss) == pytest.approx(expected, rel=1e-9)
    assert float(ohem_cross_entropy(logits, labels, IGNORE)) == pytest.approx(
        sum(float(losses[i]) for i in hard) / 3, rel=1e-9
    )


def test_enet_weights_follow_the_formula_and_keep_the_mean_at_one() -> None:
    import numpy as np

    from training.class_weights import enet_weights

    freq = np.array([0.6, 0.3, 0.09, 0.01])
    w = enet_weights(freq).double().numpy()
    raw = 1 / np.log(1.02 + freq)
    np.testing.assert_allclose(w / w[0], raw / raw[0], rtol=1e-6)
    assert float((w * freq).sum()) == pytest.approx(1.0, rel=1e-6)
    assert np.all(np.diff(w) > 0)  # rarer class, larger weight
