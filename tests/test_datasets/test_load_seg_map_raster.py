"""LoadSegMapFromRaster: GeoTIFF class maps, with the image's nodata ignored."""

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from mmskysense.datasets.transforms import LoadSegMapFromRaster


def _write(path, data, nodata=None, dtype='uint8'):
    data = np.asarray(data, dtype=dtype)
    if data.ndim == 2:
        data = data[None]
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        height=data.shape[1],
        width=data.shape[2],
        count=data.shape[0],
        dtype=dtype,
        crs='EPSG:32633',
        transform=from_origin(0, 0, 1, 1),
        nodata=nodata,
    ) as dst:
        dst.write(data)


def test_labels_loaded_and_image_nodata_ignored(tmp_path):
    img = np.full((3, 4, 5), 100, dtype=np.uint8)
    img[:, 0, :2] = 0  # nodata in every band
    img[0, 3, 4] = 0  # one band's nodata: the pixel lacks data (every band must hold data)
    _write(tmp_path / 'img.tif', img, nodata=0)
    labels = np.arange(20).reshape(4, 5) % 3
    _write(tmp_path / 'lab.tif', labels)
    res = LoadSegMapFromRaster(num_classes=3)(
        dict(img_path=str(tmp_path / 'img.tif'), seg_map_path=str(tmp_path / 'lab.tif'))
    )
    seg = res['gt_seg_map']
    assert seg.shape == (4, 5) and 'gt_seg_map' in res['seg_fields']
    assert (seg[0, :2] == 255).all()
    expected = labels.copy()
    expected[0, :2] = 255
    expected[3, 4] = 255
    np.testing.assert_array_equal(seg, expected)


def test_bad_label_rasters(tmp_path):
    _write(tmp_path / 'img.tif', np.ones((3, 4, 4)), nodata=0)
    _write(tmp_path / 'two.tif', np.zeros((2, 4, 4)))
    _write(tmp_path / 'big.tif', np.full((4, 4), 7))
    _write(tmp_path / 'float.tif', np.zeros((4, 4)), dtype='float32')
    _write(tmp_path / 'small.tif', np.zeros((3, 3)))
    t = LoadSegMapFromRaster(num_classes=4)
    img = str(tmp_path / 'img.tif')
    with pytest.raises(FileNotFoundError, match='missing.tif'):
        t(dict(img_path=img, seg_map_path=str(tmp_path / 'missing.tif')))
    with pytest.raises(ValueError, match='two.tif has 2 bands'):
        t(dict(img_path=img, seg_map_path=str(tmp_path / 'two.tif')))
    with pytest.raises(ValueError, match=r'big.tif has labels \[7\]'):
        t(dict(img_path=img, seg_map_path=str(tmp_path / 'big.tif')))
    with pytest.raises(ValueError, match='float.tif: holds float32'):
        t(dict(img_path=img, seg_map_path=str(tmp_path / 'float.tif')))
    with pytest.raises(ValueError, match='small.tif is 3x3 but the image'):
        t(dict(img_path=img, seg_map_path=str(tmp_path / 'small.tif')))
