"""Nodata arrives masked through every transform and is never a valid zero."""

import glob
import os.path as osp

import numpy as np
import rasterio
import torch

from mmskysense.models.data_preprocessors import SkySenseDataPreprocessor


def test_hr_hole_is_masked_exactly_at_native_resolution(geo_data, build_dataset, geo_pipeline):
    """A whole-tile 1:1 global view: the mask is exactly the file's nodata hole."""
    data = geo_data(seed=1)
    sample = data['samples'][0]
    with rasterio.open(osp.join(sample['folder'], 'hr.tif')) as src:
        raw = src.read()
    file_valid = (raw != 0).all(0)
    assert not file_valid.all() and file_valid.any()
    pipeline = geo_pipeline(
        flip_rotate=False,
        num_global=1,
        num_local=1,
        global_size=256,
        global_scale=(1.0, 1.0),
        ratio=(1.0, 1.0),
    )
    packed = build_dataset(data['index_path'], pipeline)[0]
    hr = packed['inputs'].global_views.images['hr'][0]
    valid = packed['inputs'].global_views.valid_masks['hr'][0]
    assert torch.equal(valid, torch.from_numpy(file_valid))
    assert torch.equal(hr, torch.from_numpy(raw.astype(np.float32)) * valid)


def test_masks_follow_flips_rotations_and_resampling(geo_data, build_dataset, geo_pipeline):
    """Valid HR/S2 values are >= 1 DN, so after any crop, resampling, flip and rotation a
    pixel is valid exactly where it holds a non-zero value, and invalid ones are exactly 0."""
    data = geo_data(seed=2, num_s2_dates=6, num_s1_dates=3)
    dataset = build_dataset(data['index_path'], geo_pipeline(num_frames=dict(s2=8, s1=4)))
    saw_invalid = dict(hr=0, s2=0)
    for _ in range(6):
        packed = dataset[0]
        sample = packed['inputs']
        for group, views in sample.groups():
            for name in ('hr', 's2'):
                valid = views.valid_masks[name]
                nonzero = views.images[name].abs().amax(dim=-3) > 0
                assert torch.equal(valid, nonzero), (group, name)
                saw_invalid[name] += int((~valid).sum())
            # S1 (dB): invalid is 0, but a valid 0 dB is possible, so only one direction
            s1_valid = views.valid_masks['s1']
            assert (views.images['s1'].abs().amax(dim=-3)[~s1_valid] == 0).all()
        # padded dates (6 S2 < 8, 3 S1 < 4) are invalid everywhere and marked in date_masks
        assert sample.date_masks['s2'].tolist() == [True] * 6 + [False] * 2
        assert sample.doy['s1'][3] == 0 and (sample.doy['s1'][:3] > 0).all()
        assert not sample.local_views.valid_masks['s2'][:, 6:].any()
    assert saw_invalid['hr'] > 0 and saw_invalid['s2'] > 0  # the holes were seen


def test_valid_zero_db_kept_and_nan_masked_through_preprocessor(
    geo_data, build_dataset, geo_pipeline
):
    """S1: a real 0.0 dB pixel stays valid, a NaN pixel is masked; after normalisation the
    masked pixel is 0 and a masked mean (as a loss computes it) ignores it."""
    data = geo_data(seed=4, nodata=False, num_s1_dates=1)
    folder = data['samples'][0]['folder']
    with rasterio.open(osp.join(folder, 's1.tif'), 'r+') as dst:
        s1 = np.full((dst.count, dst.height, dst.width), -20.0, dtype=np.float32)
        s1[:, :, : dst.width // 2] = 0.0  # valid, bright, exactly zero
        s1[:, : dst.height // 2, dst.width // 2 :] = np.nan  # nodata
        dst.write(s1)
    pipeline = geo_pipeline(
        flip_rotate=False,
        num_frames=dict(s2=2, s1=1),
        num_global=1,
        num_local=1,
        global_size=dict(hr=64, s2=64, s1=64),
        global_scale=(1.0, 1.0),
        ratio=(1.0, 1.0),
    )
    packed = build_dataset(data['index_path'], pipeline)[0]
    s1_view = packed['inputs'].global_views.images['s1'][0, 0]  # C x h x w
    valid = packed['inputs'].global_views.valid_masks['s1'][0, 0]
    zero_db = (s1_view == 0).all(0) & valid
    assert zero_db.any(), 'valid 0 dB pixels were masked as nodata'
    assert (~valid).any(), 'NaN pixels were not masked'
    assert not torch.isnan(s1_view).any()

    pre = SkySenseDataPreprocessor(mean=dict(s1=[-10.0, -10.0]), std=dict(s1=[5.0, 5.0]))
    batch = pre(dict(inputs=[packed['inputs']]))
    out = batch['inputs'].global_views.images['s1'][0, 0, 0]  # B V K C h w -> C h w
    mask = batch['inputs'].global_views.valid_masks['s1'][0, 0, 0]
    assert torch.equal(mask, valid)
    assert (out[:, ~mask] == 0).all()
    # valid 0 dB normalises to +2, not 0: it is data
    assert torch.allclose(out[:, zero_db], torch.full_like(out[:, zero_db], 2.0))
    masked_mean = (out * mask).sum() / (mask.sum() * out.shape[0])
    naive_mean = out.mean()
    expected = ((s1_view[:, valid] + 10.0) / 5.0).mean()
    assert torch.allclose(masked_mean, expected, atol=1e-5)
    assert not torch.allclose(naive_mean, expected, atol=1e-3)


def test_s2_cloud_nodata_is_masked(geo_data, build_dataset, geo_pipeline):
    data = geo_data(seed=5, nodata=False, num_s2_dates=1)
    path = glob.glob(osp.join(data['samples'][0]['folder'], 's2', '*.tif'))[0]
    with rasterio.open(path, 'r+') as dst:
        dn = dst.read()
        dn[:, :, : dst.width // 2] = 0  # nodata = 0 on the left half
        dst.write(dn)
    pipeline = geo_pipeline(
        flip_rotate=False,
        num_frames=dict(s2=1, s1=1),
        num_global=1,
        num_local=1,
        global_scale=(1.0, 1.0),
        ratio=(1.0, 1.0),
    )
    packed = build_dataset(data['index_path'], pipeline)[0]
    valid = packed['inputs'].global_views.valid_masks['s2'][0, 0]
    cols_valid = valid.any(0)
    assert not cols_valid[: cols_valid.numel() // 3].any()
    assert cols_valid[-cols_valid.numel() // 3 :].all()
