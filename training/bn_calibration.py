"""Re-estimate BatchNorm running statistics on training images (no labels, no gradients, no test data).

Averaged weights (training.average) never ran a forward pass, so their averaged running statistics need not
match them; a cumulative pass over training images (``training.ship --recalibrate-bn``: augmented crops as in
training, or whole frames) gives the statistics of the weights themselves.

The frames are taken in a seeded random order: the attention and global-context BNs see one pooled value per
image, so their variance comes only from across the batch, and a batch of consecutive frames of one video
sequence has almost none (running_var near zero, attention saturated).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module,
    dataset: Dataset,
    limit: int = 0,
    batch_size: int = 4,
    progress: bool = True,
    seed: int = 0,
) -> int:
    """Reset and re-accumulate every BatchNorm2d's statistics over ``dataset`` images; returns images used."""
    from tqdm import tqdm

    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [(m.momentum, m.training) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the whole pass
    model.eval()
    for m in norms:
        m.train()
    count = len(dataset) if not limit else min(limit, len(dataset))
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:count].tolist()
    # Batches of several frames: the global-context BN sees one value per image and needs more than one.
    for start in tqdm(range(0, count, batch_size), desc="BN statistics", disable=not progress, unit="batch"):
        batch = [dataset[i][0] for i in order[start : start + batch_size]]
        if len(batch) == 1 and batch_size > 1:
            count -= 1  # a lone last frame would break the global-context BN
            continue
        model(torch.stack(batch))
    for m, (momentum, training) in zip(norms, saved):
        m.momentum = momentum
        m.train(training)
    model.eval()
    return count
