"""The losses pinned across the reshaping of the pretraining (issue 10): on the seeded tiny batch,
every loss term, every gradient and the loss buffers after the step equal the values that the
code before the reshaping computed (``data/pinned_losses.pt``, written by
``data/make_pinned_reference.py`` at commit 5e59d61).

Both models start from ``deterministic_init``'s weights, keyed by the old module names (today's
names are mapped back through the explicit renaming below), so the check covers the whole path
that training runs: packed samples -> SkySenseDataPreprocessor -> SkySenseV2.loss -> backward.

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
    pinned_samples,
    text_embeddings,
    tiny_model_cfg,
)

from mmskysense.registry import MODELS
from mmskysense.utils import register_all_modules

register_all_modules()

REFERENCE = osp.join(osp.dirname(osp.abspath(__file__)), 'data', 'pinned_losses.pt')

# old name prefix -> today's (ITA's teacher copy of its projection, never used, is gone)
RENAMES = [
    ('heads.pixel.', 'mgcl_head.projector.pixel.'),
    ('heads.object.', 'mgcl_head.projector.object.'),
    ('heads.image.', 'mgcl_head.projector.image.'),
    ('heads.query.', 'qsacl_head.projector.head.'),
    ('query_aggregation.', 'qsacl_head.projector.aggregation.'),
    ('gcpl_proj.', 'gcpl_head.projector.'),
    ('ita_proj.', 'ita_head.projector.'),
    ('mgcl_loss.', 'mgcl_head.loss_module.'),
    ('qsacl_loss.', 'qsacl_head.loss_module.'),
    ('gcpl_loss.', 'gcpl_head.loss_module.'),
    ('teacher.heads.pixel.', 'teacher.mgcl_head.pixel.'),
    ('teacher.heads.object.', 'teacher.mgcl_head.object.'),
    ('teacher.heads.image.', 'teacher.mgcl_head.image.'),
    ('teacher.heads.query.', 'teacher.qsacl_head.head.'),
    ('teacher.query_aggregation.', 'teacher.qsacl_head.aggregation.'),
    ('teacher.gcpl_proj.', 'teacher.gcpl_head.'),
]


def _swap(name: str, pairs) -> str:
    for a, b in pairs:
        if name.startswith(a):
            return b + name[len(a) :]
    return name


def new_name(old: str) -> str:
    return _swap(old, RENAMES)


def old_name(new: str) -> str:
    return _swap(new, [(b, a) for a, b in RENAMES])


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
    grads = {old_name(k): p.grad for k, p in model.named_parameters() if p.grad is not None}
    assert set(grads) == set(ref['grad_fingerprints'])
    for key, value in ref['grad_fingerprints'].items():
        norm = value[1].sqrt().item()
        torch.testing.assert_close(
            fingerprint(key, grads[key]), value, rtol=0, atol=1e-4 * norm + 1e-12, msg=key
        )
    for key, value in ref['small_grads'].items():
        _close(grads[key], value, key)
    no_grad = sorted(k for k, p in model.named_parameters() if p.requires_grad and p.grad is None)
    assert no_grad == sorted(new_name(k) for k in ref['no_grad'])


def test_loss_buffers_after_the_step_are_the_pinned_ones(run):
    ref, model, _, _ = run
    buffers = dict(model.named_buffers())
    for key, value in ref['buffers_after'].items():
        _close(buffers[new_name(key)], value, key)
