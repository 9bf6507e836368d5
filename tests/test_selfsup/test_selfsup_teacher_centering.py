"""The teacher's targets of the DINO-style terms: DINO's running centre and DINOv2's
Sinkhorn-Knopp centring (``TeacherCentering(mode=...)``), against references written here."""

import pytest
import torch
import torch.nn.functional as F

from mmskysense.models.losses.mgcl import GRANULARITIES, MGCLLoss
from mmskysense.models.losses.qsacl import QSACLLoss
from mmskysense.models.losses.teacher_student_ce import TeacherCentering


def textbook_sinkhorn(logits: torch.Tensor, temp: float, iters: int) -> torch.Tensor:
    """SwAV / DINOv2: Q = exp(L / T), then alternately columns to 1/K and rows to 1/N; the
    rows are returned as distributions (each sums to 1)."""
    q = torch.exp(logits.double() / temp).T  # K x N
    k, n = q.shape
    q /= q.sum()
    for _ in range(iters):
        q /= q.sum(dim=1, keepdim=True)
        q /= k
        q /= q.sum(dim=0, keepdim=True)
        q /= n
    return (q * n).T.float()


def test_sinkhorn_mode_gives_the_textbook_plan():
    logits = F.normalize(torch.randn(12, 7, generator=torch.Generator().manual_seed(0)), dim=1)
    centering = TeacherCentering(7, mode='sinkhorn_knopp', sinkhorn_iters=3)
    got = centering.targets(logits, teacher_temp=0.1)
    torch.testing.assert_close(got, textbook_sinkhorn(logits, 0.1, 3), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(got.sum(1), torch.ones(12))


def test_sinkhorn_targets_share_the_outputs_where_one_output_takes_the_batch():
    # A teacher whose rows all lean to output 0 (a collapse under way): with a centre that has
    # not caught up, DINO's targets put the whole batch on that output; the Sinkhorn-Knopp plan
    # gives every output an equal share of the batch whatever the logits.
    g = torch.Generator().manual_seed(1)
    logits = 0.05 * torch.randn(16, 8, generator=g)
    logits[:, 0] += 1.0
    ema = TeacherCentering(8, momentum=0.9)
    assert float(ema.targets(logits, 0.04).mean(0)[0]) > 0.99
    sk = TeacherCentering(8, mode='sinkhorn_knopp', sinkhorn_iters=50)
    marginal = sk.targets(logits, 0.04).mean(0)
    torch.testing.assert_close(marginal, torch.full((8,), 1 / 8), rtol=0, atol=1e-3)


def test_sinkhorn_rows_of_zero_weight_take_no_part():
    g = torch.Generator().manual_seed(2)
    logits = F.normalize(torch.randn(10, 5, generator=g), dim=1)
    weight = torch.tensor([1, 0, 1, 1, 0, 1, 1, 1, 0, 1.0])
    centering = TeacherCentering(5, mode='sinkhorn_knopp')
    got = centering.targets(logits, 0.1, weight)
    keep = weight > 0
    assert torch.equal(got[~keep], torch.zeros(3, 5))
    torch.testing.assert_close(
        got[keep], textbook_sinkhorn(logits[keep], 0.1, 3), rtol=1e-4, atol=1e-6
    )


def test_ema_mode_is_dino_centring():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(6, 9, generator=g)
    centering = TeacherCentering(9, momentum=0.9)
    centering.center.copy_(torch.randn(1, 9, generator=g))
    ref = torch.softmax((logits - centering.center) / 0.07, dim=-1)
    torch.testing.assert_close(centering.targets(logits, 0.07), ref)


def test_mgcl_and_qsacl_take_their_targets_from_the_configured_centring():
    g = torch.Generator().manual_seed(4)
    k = 6
    loss = MGCLLoss(
        dict(pixel=k, object=k, image=k), modalities=('hr',), centering='sinkhorn_knopp'
    )
    terms = {'hr': {}}
    expected = 0.0
    for gran in GRANULARITIES:
        s, t = torch.randn(8, k, generator=g), F.normalize(torch.randn(8, k, generator=g), dim=1)
        w = torch.ones(8)
        terms['hr'][gran] = (s, t, w)
        target = textbook_sinkhorn(t, 0.05, 3)
        expected += float(-(target * F.log_softmax(s / 0.1, dim=-1)).sum(1).mean())
    out = loss(terms, teacher_temp=0.05)
    assert out['loss_mgcl'].item() == pytest.approx(expected, rel=1e-4)

    qs = QSACLLoss(k, centering='sinkhorn_knopp')
    assert qs.centering.mode == 'sinkhorn_knopp'


def test_unknown_centring_mode_is_refused():
    with pytest.raises(ValueError, match='mode'):
        TeacherCentering(4, mode='softmax')
    with pytest.raises(ValueError, match='mode'):
        MGCLLoss(dict(pixel=4, object=4, image=4), centering='centre')
