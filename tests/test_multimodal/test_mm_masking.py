"""A modality missing for a sample is masked, not zero-filled as data: its placeholder never
reaches the output, whatever it holds, and the output differs from feeding zeros as data."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

_spec = importlib.util.spec_from_file_location('mm_tiny', Path(__file__).with_name('mm_tiny.py'))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


def _feats(g, b=2, t=3):
    """Backbone-like maps: hr strides 4..32 of a 64 px input, s2/s1 series at stride 4."""
    chans = [8, 16, 32, 64]
    hr = tuple(torch.randn(b, c, 16 >> i, 16 >> i, generator=g) for i, c in enumerate(chans))
    s2 = tuple(torch.randn(b, t, c, 16, 16, generator=g) for c in chans)
    s1 = tuple(torch.randn(b, t, c, 16, 16, generator=g) for c in chans)
    return dict(hr=hr, s2=s2, s1=s1), chans


@pytest.mark.parametrize('mode', ['sum', 'concat', 'temporal_fusion'])
def test_fusion_ignores_a_missing_modality(mode):
    from mmskysense.models.necks import MultiModalFusion

    g = torch.Generator().manual_seed(0)
    feats, chans = _feats(g)
    fusion = MultiModalFusion(
        modalities=dict(hr='hr', s2='ms', s1='ms'),
        in_channels=chans,
        mode=mode,
        fusion=dict(type='MultiModalTemporalFusion', embed_dims=16, num_heads=2, num_layers=1),
    ).eval()
    # no zero-initialised part may hide a leak; seeded so that the contrasts below (which show
    # that the test would see a leak) do not depend on the run; the invariance holds for any
    with torch.no_grad():
        for p in fusion.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=g))
    present = dict(hr=torch.tensor([True, True]), s2=torch.tensor([True, True]))
    present['s1'] = torch.tensor([True, False])  # sample 1 has no S1
    masks = dict(s2=torch.tensor([[1, 1, 0], [1, 0, 0]]).bool(), s1=torch.ones(2, 3).bool())
    doy = dict(s2=torch.tensor([[10, 100, 0], [30, 0, 0]]), s1=torch.tensor([[5, 50, 90]] * 2))
    with torch.no_grad():
        base = fusion(feats, present, masks, doy)
        other = dict(
            feats, s1=tuple(x + 3 * torch.randn(x.shape, generator=g) for x in feats['s1'])
        )
        moved = fusion(other, present, masks, doy)
        zeros = dict(feats, s1=tuple(torch.zeros_like(x) for x in feats['s1']))
        as_data = fusion(zeros, dict(present, s1=torch.tensor([True, True])), masks, doy)
    for a, b, z in zip(base, moved, as_data):
        assert torch.allclose(a[1], b[1], atol=1e-6)  # the missing S1 does not reach sample 1
        # 100 x the tolerance above: the test would see a leak
        assert (a[0] - b[0]).abs().max() > 1e-4  # the present S1 of sample 0 does
        assert (a[1] - z[1]).abs().max() > 1e-4  # and masking is not feeding zeros as data
    # padded dates do not count either
    feats2 = dict(feats, s2=tuple(x.clone() for x in feats['s2']))
    for x in feats2['s2']:
        x[1, 1:] = 7.0
    with torch.no_grad():
        padded = fusion(feats2, present, masks, doy)
    assert all(torch.allclose(a[1], p[1], atol=1e-6) for a, p in zip(base, padded))


def test_model_masks_a_missing_modality():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    cfg = tiny.tiny_config('dyna_planet_s2_s1', '/nonexistent', '/tmp/unused').model
    torch.manual_seed(0)
    model = MODELS.build(cfg).eval()
    g = torch.Generator().manual_seed(1)
    inputs = dict(
        hr=torch.randn(2, 3, 32, 32, generator=g),
        s2=torch.randn(2, 2, 10, 8, 8, generator=g),
        s1=torch.randn(2, 2, 2, 8, 8, generator=g),
    )

    def samples(s1_present):
        out = []
        for i in range(2):
            s = SegDataSample(gt_sem_seg=PixelData(data=torch.zeros(1, 32, 32).long()))
            s.set_metainfo(
                dict(
                    img_shape=(32, 32),
                    ori_shape=(32, 32),
                    modality_mask=dict(hr=True, s2=True, s1=bool(s1_present[i])),
                    date_masks=dict(s2=np.ones(2, bool), s1=np.ones(2, bool)),
                    doy=dict(s2=np.array([15, 46]), s1=np.array([15, 46])),
                )
            )
            out.append(s)
        return out

    with torch.no_grad():
        base = model._forward(inputs, samples([True, False]))
        other = dict(inputs, s1=inputs['s1'] + 5 * torch.randn(inputs['s1'].shape, generator=g))
        moved = model._forward(other, samples([True, False]))
        zeros = dict(inputs, s1=torch.zeros_like(inputs['s1']))
        as_data = model._forward(zeros, samples([True, True]))
    assert torch.allclose(base[1], moved[1], atol=1e-5)
    assert (base[0] - moved[0]).abs().max() > 1e-3
    assert (base[1] - as_data[1]).abs().max() > 1e-3
