"""MGCL, GCPL, ITA, Sinkhorn-Knopp and centering on small synthetic tensors."""

import pytest
import torch
import torch.nn.functional as F

from mmskysense.models.heads.mgcl_head import group_objects, pool_objects
from mmskysense.models.losses.gcpl import GCPLLoss
from mmskysense.models.losses.ita import ITALoss, downsample_labels
from mmskysense.models.losses.mgcl import MGCLLoss
from mmskysense.models.losses.sinkhorn_knopp import sinkhorn_knopp


def _textbook_sinkhorn(scores, epsilon, iters):
    """Sinkhorn-Knopp as in SwAV, in float64 plain loops: exp(S / eps), then alternately every
    column to mass N / P and every row to mass 1 (independent of the module)."""
    q = (scores.double() / epsilon).exp()
    n, p = q.shape
    for _ in range(iters):
        q = q / q.sum(0, keepdim=True) * (n / p)
        q = q / q.sum(1, keepdim=True)
    return q


def test_sinkhorn_at_the_configured_three_iterations():
    """The invariants that hold after any number of iterations, at GCPL's and MGCL's 3: valid
    rows carry unit mass, masked rows none, groups do not see each other."""
    torch.manual_seed(0)
    scores = F.normalize(torch.randn(60, 4), dim=1) @ F.normalize(torch.randn(5, 4), dim=1).T
    groups = torch.tensor([0] * 25 + [1] * 35)
    mask = torch.ones(60, dtype=torch.bool)
    mask[[3, 40]] = False
    q = sinkhorn_knopp(scores, 0.05, 3, row_mask=mask, groups=groups, num_groups=2)
    torch.testing.assert_close(q[mask].sum(1), torch.ones(58))
    assert q[~mask].abs().sum() == 0
    # a group's plan depends on its own scores only (exactly)
    other = scores.clone()
    other[groups == 1] = torch.rand(35, 5) * 2 - 1
    q2 = sinkhorn_knopp(other, 0.05, 3, row_mask=mask, groups=groups, num_groups=2)
    assert torch.equal(q[groups == 0], q2[groups == 0])
    assert not torch.allclose(q[groups == 1], q2[groups == 1], atol=1e-3)


def _textbook_grouped_sinkhorn(scores, epsilon, iters, mask, groups):
    """The textbook plan of each group's valid rows on their own (masked rows: zero)."""
    q = torch.zeros(scores.shape, dtype=torch.float64)
    for g in groups.unique().tolist():
        rows = (groups == g) & mask
        q[rows] = _textbook_sinkhorn(scores[rows], epsilon, iters)
    return q


def test_sinkhorn_equals_the_textbook_plan_at_three_iterations():
    """At the configured 3 iterations (not converged) the plan is the textbook's: exp(S / eps)
    shifted by one constant only. A per-row shift (the rows' own maxima) changes it: the column
    sums it scales differ, and 3 iterations do not undo that. The rows here have very different
    maxima, as real tokens do."""
    torch.manual_seed(5)
    scores = F.normalize(torch.randn(40, 6), dim=1) @ F.normalize(torch.randn(7, 6), dim=1).T
    scores[:10] = scores[:10] * 0.2  # rows far from every prototype: low maxima
    mask = torch.ones(40, dtype=torch.bool)
    mask[[4, 33]] = False
    groups = torch.tensor([0] * 18 + [1] * 22)
    for kwargs, ref in (
        (dict(), _textbook_sinkhorn(scores, 0.05, 3)),
        (
            dict(row_mask=mask, groups=groups, num_groups=2),
            _textbook_grouped_sinkhorn(scores, 0.05, 3, mask, groups),
        ),
    ):
        q = sinkhorn_knopp(scores, 0.05, 3, **kwargs)
        torch.testing.assert_close(q.double(), ref, rtol=1e-4, atol=1e-6)
    # the per-row shift is far from it (so this test tells the two apart)
    shifted = scores / 0.05 - (scores / 0.05).max(1, keepdim=True).values
    per_row = _textbook_sinkhorn(shifted * 0.05, 0.05, 3)
    assert (per_row - _textbook_sinkhorn(scores, 0.05, 3)).abs().max() > 1e-2


def test_sinkhorn_converges_to_the_textbook_plan():
    """Run to convergence, the plan is the unique equipartitioned one (the textbook's too)."""
    torch.manual_seed(1)
    scores = torch.rand(20, 3) * 2 - 1
    q = sinkhorn_knopp(scores, 0.1, 300)
    torch.testing.assert_close(q.double(), _textbook_sinkhorn(scores, 0.1, 300), atol=1e-5, rtol=0)
    torch.testing.assert_close(q.sum(0), torch.full((3,), 20 / 3), atol=1e-3, rtol=0)


def _dino_ce(student, teacher, center, s_temp, t_temp):
    pt = torch.softmax((teacher - center) / t_temp, -1)
    return -(pt * torch.log_softmax(student / s_temp, -1)).sum(-1)


def test_mgcl_is_the_weighted_mean_of_per_granularity_cross_entropies():
    torch.manual_seed(2)
    k = 7
    loss = MGCLLoss(
        out_dims=dict(pixel=k, object=k, image=k),
        modalities=('hr', 's2'),
        granularity_weights=dict(pixel=1.0, object=0.5, image=2.0),
        student_temp=0.1,
        min_object_mass=0.5,
    )
    terms, expected = {}, 0.0
    for m in ('hr', 's2'):
        terms[m] = {}
        for g in ('pixel', 'object', 'image'):
            s, t = torch.randn(6, k), torch.randn(6, k)
            w = torch.tensor([1.0, 0.0, 1.0, 0.7, 0.2, 1.0])
            terms[m][g] = (s, t, w)
            ce = _dino_ce(s, t, torch.zeros(k), 0.1, 0.04)
            keep = (w >= 0.5).float() if g == 'object' else w
            expected += dict(pixel=1.0, object=0.5, image=2.0)[g] * (ce * keep).sum() / keep.sum()
    out = loss(terms, teacher_temp=0.04)
    torch.testing.assert_close(out['loss_mgcl'], expected / 2)
    # the terms, and their monitors (keys with a '/', never summed into the objective)
    assert {k for k in out if '/' not in k} == {'loss_mgcl'} | {
        f'mgcl_{g}_{m}' for g in ('pixel', 'object', 'image') for m in ('hr', 's2')
    }
    assert {k.split('/')[0] for k in out if '/' in k} == {
        f'mgcl_{g}_{m}' for g in ('pixel', 'object', 'image') for m in ('hr', 's2')
    }
    with pytest.raises(KeyError, match="'s1'"):
        MGCLLoss(out_dims=dict(pixel=k, object=k, image=k), modalities=('s1',))(terms, 0.04)


def test_group_objects_separates_two_clusters_and_pool_objects_averages_them():
    torch.manual_seed(3)
    a, b = torch.randn(8), torch.randn(8)
    feats = torch.stack(
        [a + 0.01 * torch.randn(8) for _ in range(5)]
        + [b + 0.01 * torch.randn(8) for _ in range(5)]
    )[None]  # 1 x 10 x 8
    mask = torch.ones(1, 10, dtype=torch.bool)
    mask[0, 9] = False
    assign = group_objects(feats, mask, num_objects=2, num_iters=5)
    hard = assign[0, :9].argmax(1)
    assert len(set(hard[:5].tolist())) == 1 and len(set(hard[5:9].tolist())) == 1
    assert hard[0] != hard[5]
    assert assign[0, 9].sum() == 0
    obj, mass = pool_objects(feats, assign, mask.float())
    expected = (assign[0].T @ feats[0]) / assign[0].sum(0)[:, None]
    torch.testing.assert_close(obj[0], expected)
    torch.testing.assert_close(mass[0].sum(), torch.tensor(9.0))


def test_gcpl_loss_targets_and_ema_prototype_update():
    """Against an independent computation: per region, the plan of the teacher's tokens of all
    its samples (textbook Sinkhorn, converged), the student's cross-entropy to it, and the EMA of
    the plan-weighted teacher means."""
    torch.manual_seed(4)
    iters = 300  # converged, so that the reference need not follow the module's iteration
    loss = GCPLLoss(
        num_regions=3,
        num_prototypes=4,
        dims=5,
        temperature=0.1,
        epsilon=0.05,
        sinkhorn_iters=iters,
        momentum=0.9,
    )
    protos0 = loss.prototypes.clone()
    s = torch.randn(3, 6, 5, requires_grad=True)
    t = torch.randn(3, 6, 5)
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[1, 0] = False
    mask[2, 4] = False
    regions = torch.tensor([2, 0, 2])  # region 2 has two samples, region 1 none
    out = loss(s, t, mask, regions)
    out['loss_gcpl'].backward()
    assert s.grad is not None and s.grad.abs().sum() > 0

    ce_sum, n = 0.0, 0
    for r in (0, 2):
        rows = [(b, i) for b in range(3) for i in range(6) if regions[b] == r and mask[b, i]]
        ft = F.normalize(torch.stack([t[b, i] for b, i in rows]).double(), dim=1)
        fs = F.normalize(torch.stack([s[b, i] for b, i in rows]).detach().double(), dim=1)
        p0 = protos0[r].double()
        q = _textbook_sinkhorn(ft @ p0.T, 0.05, iters)
        ce_sum += -(q * torch.log_softmax(fs @ p0.T / 0.1, 1)).sum()
        n += len(rows)
        means = F.normalize((q.T @ ft) / q.sum(0)[:, None], dim=1)
        expected = F.normalize(0.9 * p0 + 0.1 * means, dim=1)
        torch.testing.assert_close(loss.prototypes[r].double(), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(out['loss_gcpl'].detach().double(), ce_sum / n, atol=1e-5, rtol=1e-5)
    assert torch.equal(loss.prototypes[1], protos0[1])  # absent region untouched
    with pytest.raises(ValueError, match='region_id'):
        loss(s, t, mask, torch.tensor([3, 0, 0]))


def test_ita_downsamples_labels_by_majority_and_ignores_unlabelled(tmp_path):
    labels = torch.full((1, 4, 4), 255)
    labels[0, :2, :2] = torch.tensor([[1, 1], [1, 0]])  # majority 1
    labels[0, :2, 2:] = torch.tensor([[2, 255], [255, 255]])  # 1/4 labelled: ignored
    labels[0, 2:, :2] = torch.tensor([[0, 0], [2, 255]])  # 3/4 labelled, majority 0
    out = downsample_labels(labels, (2, 2), num_classes=3)
    assert out.tolist() == [[[1, 255], [0, 255]]]

    emb = F.normalize(torch.randn(3, 6), dim=1)
    path = str(tmp_path / 'text.pth')
    torch.save(dict(class_names=['water', 'forest', 'urban'], embeddings=emb), path)
    ita = ITALoss(path, temperature=0.07)
    feats = torch.randn(1, 6, 2, 2, requires_grad=True)
    res = ita(feats, labels)
    logits = torch.einsum('dhw,kd->khw', F.normalize(feats[0].detach(), dim=0), emb) / 0.07
    expected = (
        F.cross_entropy(logits[:, 0, 0][None], torch.tensor([1]))
        + F.cross_entropy(logits[:, 1, 0][None], torch.tensor([0]))
    ) / 2
    torch.testing.assert_close(res['loss_ita'].detach(), expected)
    res['loss_ita'].backward()
    assert feats.grad[0, :, 0, 1].abs().sum() == 0  # an unlabelled token gets no gradient
    with pytest.raises(ValueError, match='osm_label'):
        ita(feats, torch.full((1, 4, 4), 7))
    with pytest.raises(FileNotFoundError, match='gen_text_embeddings'):
        ITALoss(str(tmp_path / 'missing.pth'))


def test_objects_of_every_modality_in_one_call_are_each_modalitys_own():
    """MGCLHead groups the teacher views of every modality in one ``group_objects`` call, the
    shorter token rows padded: each modality's assignment must be what grouping its views
    alone gives (padding tokens take no mass and do not move the centroids)."""
    from mmskysense.models.heads.mgcl_head import MGCLHead

    g = torch.Generator().manual_seed(7)
    tokens = {
        'hr': torch.randn(2, 2, 9, 8, generator=g),
        's2': torch.randn(2, 2, 4, 8, generator=g),
    }
    masks = {m: torch.rand(t.shape[:3], generator=g) > 0.2 for m, t in tokens.items()}
    head = MGCLHead(in_dims=8, out_dims=16, modalities=('hr', 's2'), num_objects=3)
    got = head._objects(tokens, masks)
    for m, t in tokens.items():
        want = torch.stack(
            [
                _objects_of_one_image(f, v, 3)
                for f, v in zip(t.flatten(0, 1), masks[m].flatten(0, 1))
            ]
        ).unflatten(0, (2, 2))
        assert got[m].shape == want.shape
        torch.testing.assert_close(got[m], want, rtol=1e-4, atol=1e-5)


def _objects_of_one_image(feats, valid, k, iters=3, eps=0.05):
    """MGCL's object grouping of one image written out (independent of the module): cosine
    scores to k centroids that start at valid tokens of evenly spaced ranks, the textbook
    Sinkhorn plan of the valid tokens (rows of unit mass), centroids re-estimated; invalid
    tokens get zero rows."""
    x = F.normalize(feats.double(), dim=-1)
    idx = valid.nonzero()[:, 0]
    ranks = [min(int(i * max(len(idx), 1) / k), len(feats) - 1) for i in range(k)]
    order = torch.cat([idx, (~valid).nonzero()[:, 0]])
    cent = x[order[ranks]]
    assign = torch.zeros(len(feats), k, dtype=torch.float64)
    for _ in range(iters):
        plan = _textbook_sinkhorn(x[idx] @ cent.T, eps, 3)
        assign = torch.zeros(len(feats), k, dtype=torch.float64)
        assign[idx] = plan
        cent = F.normalize(assign.T @ x, dim=-1)
    return assign.float()
