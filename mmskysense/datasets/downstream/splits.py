"""Training-ratio splits of the paper (AID 20%/50%, RESISC-45 10%/20%, BEN-S2 10%/100%).

AID and RESISC-45 have no official split: the usual protocol draws ``ratio`` of every class for
training and keeps the rest for testing. BigEarthNet has an official train list; its 10% setting
is a random subset of it. Both draws are seeded so that every run sees the same images.
"""

from collections.abc import Sequence

import numpy as np


def stratified_ratio_split(labels: Sequence[int], ratio: float, seed: int) -> list[int]:
    """Indices of the training part: ``round(ratio * n_c)`` (at least 1) items of each class.

    The draw is per class with a generator seeded by ``seed``, over items in their given order,
    so it does not depend on anything but the labels, the ratio and the seed.
    """
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f'train ratio must be in (0, 1], got {ratio}')
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for idx, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(idx)
    chosen: list[int] = []
    for label in sorted(by_class):
        members = np.asarray(by_class[label])
        count = max(1, int(round(ratio * len(members))))
        chosen.extend(rng.permutation(members)[:count].tolist())
    return sorted(chosen)


def random_ratio_subset(num_items: int, ratio: float, seed: int) -> list[int]:
    """Sorted indices of a seeded random ``ratio`` subset of ``num_items`` (at least one)."""
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f'train ratio must be in (0, 1], got {ratio}')
    if ratio == 1.0:
        return list(range(num_items))
    count = max(1, int(round(ratio * num_items)))
    rng = np.random.default_rng(seed)
    return sorted(rng.permutation(num_items)[:count].tolist())
