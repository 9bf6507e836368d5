"""The losses pinned across the reshaping of the pretraining: on the seeded tiny batch, every
loss term, every gradient and the loss buffers after the step equal the reference values
(``data/pinned_losses.pt``, written by ``data/make_pinned_reference.py``): those of the code
before the reshaping (commit 5e59d61), regenerated once since, by issue 16's deliberate change of
the Sinkhorn-Knopp shift (the script's docstring gives the history and the terms that moved).

Both models start from ``deterministic_init``'s weights, keyed by the old module names (today's
names are mapped back through ``tiny_pretraining.RENAMES``, the MoE's stacked experts expert by
expert), so the check covers the whole path that training runs: packed samples ->
SkySenseDataPreprocessor -> SkySenseV2.loss -> backward.

Tolerance: on the machine that wrote the reference every number, and every gradient stored whole
by ``--full``, was bit-identical when the reshaping landed. Another CPU's kernels round
differently, so values are compared with ``rtol=1e-4`` and an absolute floor of 1e-5 of their
largest magnitude, gradient fingerprints (sum, sum of squares, projection on a seeded unit probe)
to 1e-4 of the gradient's L2 norm. A real change of the maths (a temperature, a pairing, a
weight, a centring) moves them by far more.
"""

import os.path as osp

import pytest
import torch
from tiny_pretraining import (
    collate,
    deterministic_init,
    fingerprint,
    new_name,
    old_name,
    pinned_samples,
    text_embeddings,
    tiny_model_cfg,
    unstack_experts,
)

from mmskysense.registry import MODELS
from mmskysense.utils import register_all_modules

register_all_modules()

REFERENCE = osp.join(osp.dirname(osp.abspath(__file__)), 'data', 'pinned_losses.pt')


def _close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    scale = expected.detach().abs().max().item() if expected.numel() else 0.0
    torch.testing.assert_close(
        actual.detach().float(), expected.float(), rtol=1e-4, atol=max(1e-5 * scale, 1e-8), msg=what
    )


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    ref = torch.load(REFERENCE, map_location='cpu', weights_only=False)
    text = text_embeddings(str(tmp_path_factory.mktemp('ita') / 'text.pth'))
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(text))
    model.init_weights()
    deterministic_init(model, old_name)
    model.train()
    data = model.data_preprocessor(collate(pinned_samples()), True)
    losses = model.loss(**data)
    total, _ = model.parse_losses(losses)
    total.backward()
    torch.set_num_threads(threads)
    return ref, model, losses, total


def test_every_loss_term_is_the_pinned_one(run):
    ref, _, losses, total = run
    assert set(losses) == set(ref['losses'])
    for key, value in ref['losses'].items():
        _close(losses[key], value, key)
    _close(total, ref['total'], 'total')


def test_every_gradient_is_the_pinned_one(run):
    ref, model, _, _ = run
    # the MoE's stacked expert weights are compared expert by expert, as the reference has them
    named = unstack_experts({k: p.grad for k, p in model.named_parameters()})
    grads = {old_name(k): g for k, g in named.items() if g is not None}
    assert set(grads) == set(ref['grad_fingerprints'])
    for key, value in ref['grad_fingerprints'].items():
        norm = value[1].sqrt().item()
        torch.testing.assert_close(
            fingerprint(key, grads[key]), value, rtol=0, atol=1e-4 * norm + 1e-12, msg=key
        )
    for key, value in ref['small_grads'].items():
        _close(grads[key], value, key)
    no_grad = sorted(
        k
        for k, p in unstack_experts(
            {k: p for k, p in model.named_parameters() if p.requires_grad and p.grad is None}
        ).items()
    )
    assert no_grad == sorted(new_name(k) for k in ref['no_grad'])


def test_loss_buffers_after_the_step_are_the_pinned_ones(run):
    ref, model, _, _ = run
    buffers = dict(model.named_buffers())
    for key, value in ref['buffers_after'].items():
        _close(buffers[new_name(key)], value, key)
