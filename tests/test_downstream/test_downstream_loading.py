"""Rasterio loading transforms: multi-band, per-band files, time series with date masks,
one-hot labels, and errors that name the file."""

import numpy as np
import pytest
from fake_releases.downstream import _write_tif

from mmskysense.datasets.transforms import LoadMultiBandImage, LoadOneHotLabel, LoadTimeSeries


def _tif(path, array):
    _write_tif(str(path), np.asarray(array))
    return str(path)


def test_multiband_selects_bands_in_order(tmp_path):
    cube = np.stack([np.full((4, 5), v, np.uint16) for v in (10, 20, 30, 40)])
    path = _tif(tmp_path / 'a.tif', cube)
    out = LoadMultiBandImage(bands=[3, 2, 1])(dict(img_path=path))
    assert out['img'].shape == (4, 5, 3) and out['img'].dtype == np.float32
    assert out['img'][0, 0].tolist() == [30, 20, 10]
    assert out['img_shape'] == (4, 5)
    with pytest.raises(ValueError, match=r'a\.tif has 4 bands; cannot read bands \[7\]'):
        LoadMultiBandImage(bands=[7])(dict(img_path=path))
    with pytest.raises(ValueError, match='expected 10'):
        LoadMultiBandImage(num_bands=10)(dict(img_path=path))
    with pytest.raises(FileNotFoundError, match='missing.tif'):
        LoadMultiBandImage()(dict(img_path=str(tmp_path / 'missing.tif')))


def test_band_files_resampled_to_finest_grid(tmp_path):
    fine = _tif(tmp_path / 'B02.tif', np.full((1, 12, 12), 5, np.uint16))
    coarse = _tif(tmp_path / 'B05.tif', np.full((1, 6, 6), 7, np.uint16))
    out = LoadMultiBandImage(num_bands=2)(dict(band_paths=[fine, coarse]))
    assert out['img'].shape == (12, 12, 2)
    assert np.allclose(out['img'][..., 1], 7)


def test_time_series_pads_and_masks(tmp_path):
    paths = [_tif(tmp_path / f'd{i}.tif', np.full((3, 6, 6), i + 1, np.uint16)) for i in range(3)]
    out = LoadTimeSeries(num_dates=5, bands=[1, 2])(dict(img_paths=paths))
    assert out['img'].shape == (6, 6, 10)
    assert out['date_mask'].tolist() == [True, True, True, False, False]
    assert out['img'][0, 0].tolist() == [1, 1, 2, 2, 3, 3, 0, 0, 0, 0]
    last = LoadTimeSeries(num_dates=2, select='last')(dict(img_paths=paths))
    assert last['img'][0, 0].tolist() == [2, 2, 2, 3, 3, 3]
    even = LoadTimeSeries(num_dates=2, select='even')(dict(img_paths=paths))
    assert even['img'][0, 0, ::3].tolist() == [1, 3]
    resized = LoadTimeSeries(num_dates=3, out_size=(4, 4))(dict(img_paths=paths))
    assert resized['img'].shape == (4, 4, 9)
    with pytest.raises(KeyError, match='img_paths'):
        LoadTimeSeries(num_dates=2)(dict(sample_idx=3))


def test_one_hot_label(tmp_path):
    classes = np.array([[0, 1], [6, 5]])
    onehot = np.stack([(classes == k) * 255 for k in range(7)]).astype(np.uint8)
    onehot[:, 0, 1] = 0  # a pixel with no class
    path = _tif(tmp_path / 'label.tif', onehot)
    out = LoadOneHotLabel(num_classes=7, ignore_classes=(6,))(dict(seg_map_path=path))
    assert out['gt_seg_map'].tolist() == [[0, 255], [255, 5]]
    assert 'gt_seg_map' in out['seg_fields']
    with pytest.raises(ValueError, match='label.tif has 7 bands, expected 8'):
        LoadOneHotLabel(num_classes=8)(dict(seg_map_path=path))
