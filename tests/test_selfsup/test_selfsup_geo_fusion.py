"""Token correspondence between views, and the masking of the multi-modal temporal fusion."""

import itertools

import pytest
import torch

from mmskysense.models.selfsup.geo_correspondence import token_correspondence
from mmskysense.models.selfsup.multimodal_temporal_fusion import MultiModalTemporalFusion


def _ground_of_view_token(box, ops, grid):
    """Ground centre of every view token, by applying the ops to an image of ground coordinates
    (independent of the implementation, which inverts index maps)."""
    h, w = grid if ops[2] % 2 == 0 else grid[::-1]  # crop grid before the rotation
    minx, miny, maxx, maxy = box
    xs = minx + (torch.arange(w, dtype=torch.float64) + 0.5) / w * (maxx - minx)
    ys = maxy - (torch.arange(h, dtype=torch.float64) + 0.5) / h * (maxy - miny)
    img = torch.stack(torch.meshgrid(ys, xs, indexing='ij')[::-1])  # 2 x h x w: (x, y)
    if ops[0]:
        img = img.flip(-1)
    if ops[1]:
        img = img.flip(-2)
    img = torch.rot90(img, ops[2], dims=(-2, -1))
    return img.reshape(2, -1).T  # L x 2


def test_token_correspondence_points_to_the_token_covering_the_same_ground():
    torch.manual_seed(0)
    all_ops = list(itertools.product((0, 1), (0, 1), range(4)))
    src_boxes, dst_boxes, src_ops, dst_ops = [], [], [], []
    for i in range(12):
        sx, sy = torch.rand(2).tolist()
        src_boxes.append([100 + sx * 40, 200 + sy * 40, 100 + sx * 40 + 30, 200 + sy * 40 + 30])
        dst_boxes.append([110.0, 210.0, 170.0, 270.0])
        src_ops.append(all_ops[i % 16])
        dst_ops.append(all_ops[(5 * i + 3) % 16])
    src_grid, dst_grid = (3, 3), (4, 4)
    idx = token_correspondence(
        torch.tensor(src_boxes),
        torch.tensor(src_ops),
        src_grid,
        torch.tensor(dst_boxes),
        torch.tensor(dst_ops),
        dst_grid,
    )
    assert idx.shape == (12, 9)
    for i in range(12):
        src_ground = _ground_of_view_token(src_boxes[i], src_ops[i], src_grid)
        dst_ground = _ground_of_view_token(dst_boxes[i], dst_ops[i], dst_grid)
        cell = 60.0 / 4
        for j in range(9):
            x, y = src_ground[j].tolist()
            inside = 110 <= x < 170 and 210 < y <= 270
            if not inside:
                assert idx[i, j] == -1
                continue
            # the matched token's centre is within half a cell of the source centre
            dx, dy = (dst_ground[idx[i, j]] - src_ground[j]).abs().tolist()
            assert dx <= cell / 2 + 1e-6 and dy <= cell / 2 + 1e-6, (i, j)
    assert (idx >= 0).any() and (idx == -1).any()


def test_token_correspondence_identity_for_a_view_and_itself():
    box = torch.tensor([[0.0, 0.0, 8.0, 8.0]])
    for ops in itertools.product((0, 1), (0, 1), range(4)):
        o = torch.tensor([ops])
        idx = token_correspondence(box, o, (4, 4), box, o, (4, 4))
        assert idx[0].tolist() == list(range(16)), ops
    with pytest.raises(ValueError, match='src_boxes'):
        token_correspondence(box[0], o, (4, 4), box, o, (4, 4))


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
