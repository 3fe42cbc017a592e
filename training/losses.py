"""Training losses: OHEM cross-entropy, the detail loss (BCE + Dice) and their weighted total."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from stdc_ros.network import TrainOutputs

from .detail import detail_target


def ohem_cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    ignore_index: int,
    keep_prob: float = 0.7,
    min_fraction: float = 1.0 / 16.0,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Online hard example mining CE over the batch's labelled pixels.

    Losses above -ln(keep_prob) are averaged when at least ``min_fraction`` of the labelled pixels exceed
    it (the n_min-th largest loss is above the threshold); otherwise the n_min largest are averaged.
    With ``class_weights``, pixels are still chosen by their unweighted loss (hardness), and the chosen
    ones are averaged with their class weights (sum w l / sum w, as weighted cross-entropy does).
    """
    losses = F.cross_entropy(logits, labels, ignore_index=ignore_index, reduction="none")
    valid = labels != ignore_index
    losses = losses[valid]
    if losses.numel() == 0:
        return logits.sum() * 0.0
    threshold = -math.log(keep_prob)
    n_min = max(1, int(losses.numel() * min_fraction))
    ranked, order = torch.sort(losses, descending=True)
    if ranked[n_min - 1] > threshold:
        keep = ranked > threshold
    else:
        keep = torch.arange(ranked.numel(), device=ranked.device) < n_min
    if class_weights is None:
        return ranked[keep].mean()
    weights = class_weights.to(losses.device)[labels[valid][order][keep]]
    return (ranked[keep] * weights).sum() / weights.sum()


def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Per sample 1 - (2 sum(p t) + 1) / (sum(p) + sum(t) + 1), p = sigmoid(logits); batch mean."""
    prob = torch.sigmoid(logits).flatten(1)
    target = target.flatten(1)
    numerator = 2.0 * (prob * target).sum(1) + smooth
    denominator = prob.sum(1) + target.sum(1) + smooth
    return (1.0 - numerator / denominator).mean()


def detail_loss(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(BCE with logits, mean over pixels; Dice) of detail-head logits against the binary target."""
    if logits.shape[-2:] != target.shape[-2:]:
        logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=True)
    bce = F.binary_cross_entropy_with_logits(logits, target)
    return bce, dice_loss(logits, target)


@dataclass
class LossWeights:
    main: float = 1.0
    aux8: float = 1.0
    aux16: float = 1.0
    detail_bce: float = 1.0
    detail_dice: float = 1.0


class STDCLoss:
    """main + aux8 + aux16 OHEM-CE + detail BCE + Dice, each weighted (all 1 in the reference)."""

    def __init__(
        self,
        ignore_index: int,
        weights: LossWeights | None = None,
        use_detail: bool = True,
        class_weights: torch.Tensor | None = None,
    ) -> None:
        self.ignore_index = ignore_index
        self.weights = weights or LossWeights()
        self.use_detail = use_detail
        self.class_weights = class_weights

    def __call__(self, outputs: TrainOutputs, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        w, cw = self.weights, self.class_weights
        terms = {
            name: ohem_cross_entropy(getattr(outputs, name), labels, self.ignore_index, class_weights=cw)
            for name in ("main", "aux8", "aux16")
        }
        total = w.main * terms["main"] + w.aux8 * terms["aux8"] + w.aux16 * terms["aux16"]
        if self.use_detail:
            with torch.no_grad():
                target = detail_target(labels, self.ignore_index)
            bce, dice = detail_loss(outputs.detail.float(), target)
            terms["detail_bce"], terms["detail_dice"] = bce, dice
            total = total + w.detail_bce * bce + w.detail_dice * dice
        return total, {name: float(value.detach()) for name, value in terms.items()}
