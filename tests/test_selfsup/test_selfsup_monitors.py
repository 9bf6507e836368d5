"""The collapse monitors (mmskysense/models/utils/ssl_monitors.py) against values computed by
hand, and their presence in what SkySenseV2.loss gives the Runner."""

import math

import pytest
import torch
from tiny_pretraining import collate, pinned_samples, text_embeddings, tiny_model_cfg

from mmskysense.models.utils.ssl_monitors import (
    effective_rank,
    feature_monitors,
    mean_pairwise_cosine,
    teacher_student_monitors,
)
from mmskysense.registry import MODELS
from mmskysense.utils import register_all_modules

register_all_modules()


def test_target_entropy_and_kl_against_a_hand_computation():
    k = 4
    target = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]])
    student = torch.tensor([[0.7, 0.1, 0.1, 0.1], [0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]])
    weight = torch.tensor([1.0, 1.0, 0.0])  # the third row is dropped
    ce_rows = [
        -sum(t * math.log(s) for t, s in zip(tr, sr) if t > 0)
        for tr, sr in zip(target.tolist(), student.tolist())
    ]
    ce = torch.tensor((ce_rows[0] + ce_rows[1]) / 2)
    out = teacher_student_monitors('term', target, ce, weight, center=torch.full((1, k), 0.5))
    h = (0.0 + math.log(4)) / 2  # entropies of the two kept rows
    assert out['term/tgt_entropy'].item() == pytest.approx(h / math.log(4), abs=1e-6)
    marginal = [0.625, 0.125, 0.125, 0.125]  # mean of the two kept rows
    hm = -sum(p * math.log(p) for p in marginal)
    assert out['term/tgt_marginal_entropy'].item() == pytest.approx(hm / math.log(4), abs=1e-6)
    kl = (
        sum(
            sum(t * math.log(t / s) for t, s in zip(tr, sr) if t > 0)
            for tr, sr in zip(target.tolist()[:2], student.tolist()[:2])
        )
        / 2
    )
    assert out['term/kl'].item() == pytest.approx(kl, abs=1e-6)
    assert out['term/center_norm'].item() == pytest.approx(1.0, abs=1e-6)
    assert out['term/rows'].item() == 2.0
    # a batch without rows reads as no data, not as one-hot targets
    empty = teacher_student_monitors('t', target, torch.tensor(0.0), torch.zeros(3))
    assert empty['t/rows'].item() == 0.0 and empty['t/tgt_entropy'].item() == 0.0
    # the two ends of collapse
    one_hot = teacher_student_monitors('t', torch.eye(k)[[2, 2, 2]], torch.tensor(0.0))
    assert one_hot['t/tgt_entropy'].item() == 0 and one_hot['t/tgt_marginal_entropy'].item() == 0
    uniform = teacher_student_monitors('t', torch.full((3, k), 1 / k), torch.tensor(math.log(k)))
    assert uniform['t/tgt_entropy'].item() == pytest.approx(1.0, abs=1e-6)
    assert uniform['t/kl'].item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match='2 weights for 3 target rows'):
        teacher_student_monitors('t', target, ce, torch.ones(2))


def test_effective_rank_spread_and_cosine_of_known_feature_sets():
    same = torch.tensor([[1.0, 2.0, 0.5]]).repeat(6, 1)
    assert effective_rank(same).item() == pytest.approx(1.0, abs=1e-4)
    assert mean_pairwise_cosine(same).item() == pytest.approx(1.0, abs=1e-6)
    assert feature_monitors('f', same)['f/std'].item() == pytest.approx(0.0, abs=1e-6)
    basis = torch.eye(5) * torch.tensor([3.0, 1.0, 2.0, 0.5, 7.0])[:, None]  # orthogonal rows
    assert effective_rank(basis).item() == pytest.approx(5.0, abs=1e-4)
    assert mean_pairwise_cosine(basis).item() == pytest.approx(0.0, abs=1e-6)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 4, generator=g)
    xn = x / x.norm(dim=1, keepdim=True)
    pairs = [(xn[i] @ xn[j]).item() for i in range(7) for j in range(7) if i != j]
    assert mean_pairwise_cosine(x).item() == pytest.approx(sum(pairs) / len(pairs), abs=1e-6)
    s = torch.linalg.svdvals(xn)
    p = s / s.sum()
    assert effective_rank(x).item() == pytest.approx(math.exp(-(p * p.log()).sum()), abs=1e-5)
    # rows weighted 0 are left out (views without data): the same as indexing the others
    keep = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    kept = xn[keep.bool()]
    weighted = feature_monitors('f', x, keep)
    assert weighted['f/std'].item() == pytest.approx(kept.std(dim=0).mean().item(), abs=1e-6)
    s = torch.linalg.svdvals(kept)
    p = s / s.sum()
    assert weighted['f/erank'].item() == pytest.approx(math.exp(-(p * p.log()).sum()), abs=1e-5)
    one = feature_monitors('f', x, torch.tensor([0.0, 0, 0, 1, 0, 0, 0]))
    assert one['f/std'].item() == 0.0


def test_the_loss_outputs_carry_every_monitor_and_none_counts_as_a_loss(tmp_path):
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(text_embeddings(str(tmp_path / 'text.pth'))))
    model.init_weights()
    model.train()
    losses = model.loss(**model.data_preprocessor(collate(pinned_samples()), True))
    terms = [f'mgcl_{g}_{m}' for g in ('pixel', 'object', 'image') for m in ('hr', 's2', 's1')]
    for term in terms + ['qsacl_g2l', 'qsacl_l2g']:
        for mon in ('tgt_entropy', 'tgt_marginal_entropy', 'kl', 'center_norm', 'rows'):
            assert f'{term}/{mon}' in losses, f'{term}/{mon}'
    for mon in ('tgt_entropy', 'tgt_marginal_entropy', 'kl', 'rows'):
        assert f'gcpl/{mon}' in losses
    for m in ('hr', 's2', 's1', 'fused'):
        assert f'teacher_feat/{m}/std' in losses and f'teacher_feat/{m}/erank' in losses
    monitors = {k: v for k, v in losses.items() if '/' in k}
    assert all(not v.requires_grad and v.dim() == 0 for v in monitors.values())
    for k, v in monitors.items():
        if k.endswith('entropy'):
            assert 0.0 <= v.item() <= 1.0 + 1e-6, k
    # the objective is the same with or without the monitors: only `loss*` keys are summed
    total, log_vars = model.parse_losses(losses)
    torch.testing.assert_close(total, sum(v for k, v in losses.items() if k.startswith('loss_')))
    assert set(monitors) <= set(log_vars)
    # KL is the cross-entropy less the target entropy (in nats), so never negative
    for term in terms:
        assert monitors[f'{term}/kl'].item() > -1e-5, term
