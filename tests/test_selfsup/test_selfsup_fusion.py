"""The masking of the multi-modal temporal fusion (F_fus)."""

import pytest
import torch

from mmskysense.models.necks import MultiModalTemporalFusion


def _fusion_inputs(n=2, t2=3, t1=2, c=8, h=2, w=2):
    feats = dict(
        hr=torch.randn(n, c, h, w), s2=torch.randn(n, t2, c, h, w), s1=torch.randn(n, t1, c, h, w)
    )
    masks = dict(
        hr=torch.ones(n, h, w, dtype=torch.bool),
        s2=torch.ones(n, t2, h, w, dtype=torch.bool),
        s1=torch.ones(n, t1, h, w, dtype=torch.bool),
    )
    doy = dict(s2=torch.randint(1, 366, (n, t2)), s1=torch.randint(1, 366, (n, t1)))
    return feats, masks, doy


def test_fusion_ignores_padded_dates_and_nodata_tokens():
    torch.manual_seed(0)
    fusion = MultiModalTemporalFusion(in_dims=8, embed_dims=16, num_layers=2, num_heads=2).eval()
    feats, masks, doy = _fusion_inputs()
    masks['s2'][:, 2] = False  # a padded date
    masks['hr'][0, 1, 1] = False  # a nodata HR token
    out, valid = fusion(feats, masks, doy)
    assert out.shape == (2, 16, 2, 2) and valid.all()
    changed = {k: v.clone() for k, v in feats.items()}
    changed['s2'][:, 2] = 100 * torch.randn_like(changed['s2'][:, 2])
    changed['hr'][0, :, 1, 1] = 100.0
    doy2 = dict(doy, s2=doy['s2'].clone())
    doy2['s2'][:, 2] = 0
    out2, _ = fusion(changed, masks, doy2)
    torch.testing.assert_close(out, out2)
    # a real date does matter, and so does its day of year
    changed['s2'][:, 0] += 1.0
    assert not torch.allclose(fusion(changed, masks, doy2)[0], out)
    doy3 = dict(doy, s2=doy['s2'].clone())
    doy3['s2'][:, 0] = (doy3['s2'][:, 0] + 100) % 366
    assert not torch.allclose(fusion(feats, masks, doy3)[0], out)
    # a location without data in any modality is reported invalid
    for m in masks:
        masks[m][..., 0, 0] = False
    assert not fusion(feats, masks, doy)[1][:, 0, 0].any()


def test_fusion_resamples_a_finer_ms_grid_and_names_bad_inputs():
    fusion = MultiModalTemporalFusion(in_dims=8, embed_dims=16, num_layers=1, num_heads=2)
    feats, masks, doy = _fusion_inputs()
    feats['s2'] = torch.randn(2, 3, 8, 4, 4)
    masks['s2'] = torch.ones(2, 3, 4, 4, dtype=torch.bool)
    out, _ = fusion(feats, masks, doy)
    assert out.shape == (2, 16, 2, 2)
    with pytest.raises(KeyError, match='doy'):
        fusion(feats, masks, dict(s1=doy['s1']))
    with pytest.raises(KeyError, match='modalities'):
        fusion(dict(feats, planet=feats['hr']), masks, doy)
