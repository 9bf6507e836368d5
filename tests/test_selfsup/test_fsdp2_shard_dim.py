"""FSDP2Strategy splits each parameter along the dimension whose padding to the world size wastes
least (issue 29: the MoE's 8 stacked experts split along dim 0 over 128 ranks were padded to
128 rows, 16x the experts in every gathered copy, measured by
tools/analysis_tools/pretrain_plan.py)."""

import pytest

from mmskysense.engine.strategies.fsdp2 import shard_dim


def padded(shape, world, dim):
    """Elements a split along ``dim`` allocates over all ranks, written out."""
    n = shape[dim]
    rows = (n + world - 1) // world * world
    total = rows
    for d, s in enumerate(shape):
        if d != dim:
            total *= s
    return total


@pytest.mark.parametrize(
    'shape,world',
    [
        ((8, 5632, 1408), 128),  # huge's stacked experts (fc1)
        ((8, 1408, 5632), 32),
        ((8, 5632), 128),  # their biases
        ((8, 5632, 1408), 8),
        ((352,), 128),
        ((11, 1, 1), 128),  # a logit scale
        ((4096, 100, 256), 128),  # GCPL prototypes
        ((3, 5, 7), 4),
    ],
)
def test_the_chosen_dim_pads_least(shape, world):
    dim = shard_dim(shape, world)
    best = min(padded(shape, world, d) for d in range(len(shape)))
    assert padded(shape, world, dim) == best
    # dim 0 (FSDP2's default) whenever it is as good as any
    if padded(shape, world, 0) == best:
        assert dim == 0


def test_experts_over_many_ranks_split_along_their_width():
    assert shard_dim((8, 5632, 1408), 128) == 1
    assert padded((8, 5632, 1408), 128, 0) == 16 * 8 * 5632 * 1408
