"""QSACL (eq. 3-4) against an explicit loop over queries and global/local view pairs."""

import math

import torch

from mmskysense.models.losses.qsacl import QSACLLoss


def _softmax(v, t):
    e = [math.exp(x / t) for x in v]
    s = sum(e)
    return [x / s for x in e]


def _ce(teacher_logits, center, t_temp, student_logits, s_temp):
    # -sum_k H'(x')_k log H(x)_k with plain Python arithmetic
    pt = _softmax([a - c for a, c in zip(teacher_logits, center)], t_temp)
    ps = _softmax(student_logits, s_temp)
    return -sum(p * math.log(q) for p, q in zip(pt, ps))


def test_qsacl_equals_eq3_eq4_computed_by_hand():
    torch.manual_seed(0)
    b, vg, vl, m, k = 2, 2, 3, 4, 5
    sg, sl = torch.randn(b, vg, m, k), torch.randn(b, vl, m, k)
    tg, tl = torch.randn(b, vg, m, k), torch.randn(b, vl, m, k)
    loss_mod = QSACLLoss(out_dims=k, student_temp=0.1, center_momentum=0.9)
    center0 = torch.randn(1, k)
    loss_mod.centering.center.copy_(center0)
    out = loss_mod(sg, sl, tg, tl, teacher_temp=0.05)

    c = center0[0].tolist()
    total = 0.0
    for bi in range(b):
        per_query = 0.0
        for i in range(m):
            g2l = l2g = 0.0
            for g in range(vg):
                for loc in range(vl):
                    # L_CL(z_i^g, z_i^l): teacher on global g, student on local l, and back
                    g2l += _ce(tg[bi, g, i].tolist(), c, 0.05, sl[bi, loc, i].tolist(), 0.1)
                    l2g += _ce(tl[bi, loc, i].tolist(), c, 0.05, sg[bi, g, i].tolist(), 0.1)
            per_query += (g2l + l2g) / (vg * vl)
        total += per_query / (2 * m)
    expected = total / b
    assert abs(out['loss_qsacl'].item() - expected) < 1e-4 * max(1.0, abs(expected))


def test_qsacl_gradient_only_through_student_and_center_update():
    torch.manual_seed(1)
    b, vg, vl, m, k = 1, 2, 2, 3, 6
    sg = torch.randn(b, vg, m, k, requires_grad=True)
    sl = torch.randn(b, vl, m, k, requires_grad=True)
    tg = torch.randn(b, vg, m, k, requires_grad=True)
    tl = torch.randn(b, vl, m, k, requires_grad=True)
    loss_mod = QSACLLoss(out_dims=k, center_momentum=0.8)
    loss_mod(sg, sl, tg, tl, teacher_temp=0.04)['loss_qsacl'].backward()
    assert sg.grad is not None and sl.grad is not None
    assert tg.grad is None and tl.grad is None
    # the centre moved 20 % of the way to the mean of every teacher output
    mean = torch.cat([tg.detach().reshape(-1, k), tl.detach().reshape(-1, k)]).mean(0)
    torch.testing.assert_close(loss_mod.centering.center[0], 0.2 * mean)


def test_qsacl_rejects_bad_shapes():
    loss_mod = QSACLLoss(out_dims=4)
    x = torch.randn(1, 2, 3, 4)
    try:
        loss_mod(x[0], x, x, x, teacher_temp=0.04)
    except ValueError as err:
        assert 'student_global' in str(err)
    else:
        raise AssertionError('a 3-D student_global was accepted')


def test_aggregation_of_a_list_is_each_tensor_aggregated_alone():
    """QSACL aggregates the global and the local views (different token counts) in one decoder
    call, the shorter rows padded: each tensor's queries, and the gradients, must be those of
    aggregating it alone, also for a view without any valid token (which attends to all of its
    own tokens, never to the padding)."""
    from mmskysense.models.necks import QueryAggregation

    torch.manual_seed(0)
    agg = QueryAggregation(16, num_queries=3, num_heads=4)
    feats = [torch.randn(4, 9, 16, requires_grad=True), torch.randn(6, 2, 16, requires_grad=True)]
    masks = [torch.rand(4, 9) > 0.3, torch.rand(6, 2) > 0.3]
    masks[0][1] = False  # no valid token at all
    masks[1][2] = False
    got = agg(feats, masks)
    assert isinstance(got, list) and [z.shape for z in got] == [(4, 3, 16), (6, 3, 16)]

    def alone(f, m):  # torch's decoder layer on this tensor only, the padding rule written out
        pad = ~m
        pad[pad.all(1)] = False  # no valid token: attend to all of its own
        q = agg.queries.unsqueeze(0).expand(f.shape[0], -1, -1)
        return agg.norm(agg.decoder(q, f, memory_key_padding_mask=pad))

    alone = [alone(f, m) for f, m in zip(feats, masks)]
    for z, ref in zip(got, alone):
        torch.testing.assert_close(z, ref, rtol=1e-5, atol=1e-6)
    probe = [torch.randn(z.shape) for z in got]
    grads = torch.autograd.grad(sum((z * p).sum() for z, p in zip(got, probe)), feats)
    want = torch.autograd.grad(sum((z * p).sum() for z, p in zip(alone, probe)), feats)
    for g, w in zip(grads, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6)
