"""MS pyramid and masked temporal pooling."""

import pytest
import torch

from mmskysense.models.necks import MSFeaturePyramid, TemporalPooling


@pytest.mark.parametrize('mode', ['pool', 'conv'])
def test_ms_pyramid_strides(mode):
    neck = MSFeaturePyramid([8, 16, 32, 64], mode=mode)
    maps = [torch.randn(2, c, 16, 16) for c in (8, 16, 32, 64)]
    outs = neck(maps)
    assert [tuple(o.shape) for o in outs] == [
        (2, 8, 16, 16),
        (2, 16, 8, 8),
        (2, 32, 4, 4),
        (2, 64, 2, 2),
    ]
    if mode == 'pool':
        assert torch.equal(outs[0], maps[0])
        assert torch.equal(outs[3], torch.nn.functional.max_pool2d(maps[3], 8))
    up = MSFeaturePyramid([8, 8], scales=(2, 1), mode=mode)([torch.randn(1, 8, 5, 5)] * 2)
    assert up[0].shape[-2:] == (10, 10)
    with pytest.raises(ValueError, match='powers of two'):
        MSFeaturePyramid([8], scales=(0.3,))


@pytest.mark.parametrize('mode', ['mean', 'max', 'attention'])
def test_temporal_pooling_ignores_padded_dates(mode):
    torch.manual_seed(0)
    pool = TemporalPooling(mode=mode, in_channels=[4])
    if mode == 'attention':
        torch.nn.init.normal_(pool.scorers[0].weight)
    x = torch.randn(2, 3, 4, 5, 5)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    out = pool([x], mask)[0]
    assert out.shape == (2, 4, 5, 5)
    changed = x.clone()
    changed[0, 2] += 100.0
    changed[1, 1:] -= 100.0
    assert torch.allclose(pool([changed], mask)[0], out)
    single = pool([x[1:, :1]], mask[1:, :1])[0]
    assert torch.allclose(single, x[1, 0][None], atol=1e-6)
    if mode == 'mean':
        assert torch.allclose(out[0], x[0, :2].mean(0))


def test_temporal_pooling_attention_starts_as_mean_and_learns():
    pool = TemporalPooling(mode='attention', in_channels=[4])
    pool.init_weights()
    x = torch.randn(1, 3, 4, 2, 2, requires_grad=True)
    out = pool([x])[0]
    assert torch.allclose(out, x.mean(1), atol=1e-6)
    out.sum().backward()
    assert pool.scorers[0].weight.grad is not None
    no_date = pool([x], torch.zeros(1, 3, dtype=torch.bool))[0]
    assert torch.count_nonzero(no_date) == 0
    with pytest.raises(ValueError, match='date_mask'):
        pool([x], torch.ones(1, 2, dtype=torch.bool))
