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


def _term_rows(g: torch.Generator, k: int) -> dict:
    """MGCL terms of three modalities with different row counts and some zero weights, one
    modality's pixel term without any weight."""
    terms = {}
    for m, n in (('hr', 6), ('s2', 4), ('s1', 3)):
        terms[m] = {}
        for gran in GRANULARITIES:
            w = (torch.rand(n, generator=g) > 0.3).float()
            if (m, gran) == ('s1', 'pixel'):
                w = torch.zeros(n)
            terms[m][gran] = (torch.randn(n, k, generator=g), torch.randn(n, k, generator=g), w)
    return terms


def test_mgcl_terms_are_each_centred_by_their_own_centre_and_update_it():
    """The modalities' terms of a granularity go through the centring and the cross-entropy
    together: each term must still be centred by its own centre, weigh its own rows, and move
    its own centre towards the weighted mean of its own teacher rows (a term without weight
    keeps its centre and has no loss). References written here, per term."""
    g = torch.Generator().manual_seed(5)
    k, momentum = 6, 0.7
    loss = MGCLLoss(
        out_dims=dict(pixel=k, object=k, image=k),
        modalities=('hr', 's2', 's1'),
        center_momentum=momentum,
        min_object_mass=0.5,
    )
    old = {}
    for name, c in loss.centering.items():
        c.center.copy_(torch.randn(1, k, generator=g) * 3)  # far apart: a wrong centre shows
        old[name] = c.center.clone()
    terms = _term_rows(g, k)
    out = loss(terms, teacher_temp=0.04)
    total = 0.0
    for m in ('hr', 's2', 's1'):
        for gran in GRANULARITIES:
            s, t, w = terms[m][gran]
            w = (w >= 0.5).float() if gran == 'object' else w
            centre = old[f'{gran}_{m}']
            target = F.softmax((t - centre) / 0.04, dim=-1)
            ce = -(target * F.log_softmax(s / 0.1, dim=-1)).sum(-1)
            want = (ce * w).sum() / w.sum().clamp_min(1.0)
            torch.testing.assert_close(out[f'mgcl_{gran}_{m}'], want)
            torch.testing.assert_close(out[f'mgcl_{gran}_{m}/rows'], w.sum())
            torch.testing.assert_close(out[f'mgcl_{gran}_{m}/center_norm'], centre.norm())
            if w.sum() > 0:
                mean = (t * w[:, None]).sum(0) / w.sum()
                new = momentum * centre + (1 - momentum) * mean
            else:
                new = centre
            torch.testing.assert_close(loss.centering[f'{gran}_{m}'].center, new)
            total = total + want
    torch.testing.assert_close(out['loss_mgcl'], total / 3)


def test_sinkhorn_targets_of_several_terms_are_each_terms_own_plan():
    """``targets_many`` of stacked terms in Sinkhorn-Knopp mode: each term's rows get the plan
    of its rows alone (the textbook plan, written here), rows without weight get zeros."""
    g = torch.Generator().manual_seed(6)
    parts = [F.normalize(torch.randn(n, 5, generator=g), dim=1) for n in (7, 4, 9)]
    weight = torch.ones(20)
    weight[[2, 12]] = 0.0
    centerings = [TeacherCentering(5, mode='sinkhorn_knopp', sinkhorn_iters=3) for _ in parts]
    segments = torch.cat([torch.full((p.shape[0],), i) for i, p in enumerate(parts)])
    got = TeacherCentering.targets_many(centerings, torch.cat(parts), 0.1, weight, segments)
    for i, p in enumerate(parts):
        rows = segments == i
        keep = weight[rows] > 0
        want = torch.zeros_like(p)
        want[keep] = textbook_sinkhorn(p[keep], 0.1, 3)
        torch.testing.assert_close(got[rows], want, rtol=1e-4, atol=1e-6)
