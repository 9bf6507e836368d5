"""Each bad input gets a GeoSampleError naming the file and the problem; 'skip' counts them."""

import glob
import json
import logging
import os
import os.path as osp
import re

import numpy as np
import pytest
import rasterio
from helpers.geotiff import write_geotiff_like
from rasterio.crs import CRS
from rasterio.transform import from_origin

from mmskysense.datasets.geo import GeoSampleError, build_geo_index

# every frame is read when K >= T, so a bad file anywhere in a series is always hit
ALL_FRAMES = dict(s2=12, s1=6)


def _rewrite(path: str, data: np.ndarray = None, **profile_updates) -> None:
    """Rewrite a GeoTIFF in place with new pixels and/or profile fields (crs, transform)."""
    write_geotiff_like(path, path, data, **profile_updates)


def _first_s2(sample: dict) -> str:
    return sorted(glob.glob(osp.join(sample['folder'], 's2', '*.tif')))[0]


def _load_all(build_dataset, geo_pipeline, index_path, **kwargs):
    dataset = build_dataset(index_path, geo_pipeline(num_frames=ALL_FRAMES), **kwargs)
    return dataset, dataset[0]


def test_missing_file(geo_data, build_dataset, geo_pipeline):
    data = geo_data()
    path = _first_s2(data['samples'][0])
    os.remove(path)
    with pytest.raises(GeoSampleError, match=re.escape(path) + ': file does not exist'):
        _load_all(build_dataset, geo_pipeline, data['index_path'])


def test_corrupt_file(geo_data, build_dataset, geo_pipeline):
    data = geo_data()
    path = osp.join(data['samples'][0]['folder'], 'hr.tif')
    with open(path, 'wb') as f:
        f.write(b'this is not a tiff' * 100)
    with pytest.raises(GeoSampleError, match=re.escape(path) + ': not a raster GDAL can read'):
        _load_all(build_dataset, geo_pipeline, data['index_path'])


def test_truncated_file(geo_data, build_dataset, geo_pipeline):
    data = geo_data()
    path = osp.join(data['samples'][0]['folder'], 'hr.tif')
    size = osp.getsize(path)
    with open(path, 'r+b') as f:
        f.truncate(size // 2)
    with pytest.raises(GeoSampleError, match=re.escape(path) + ': .*corrupt or truncated'):
        _load_all(build_dataset, geo_pipeline, data['index_path'])


def test_wrong_band_count(geo_data, build_dataset, geo_pipeline):
    data = geo_data()
    path = _first_s2(data['samples'][0])
    with rasterio.open(path) as src:
        nine = src.read()[:9]
    _rewrite(path, nine)
    # the index was built with 10 bands: reading refuses the file
    with pytest.raises(
        GeoSampleError, match=re.escape(path) + ': has 9 bands, expected at least 10'
    ):
        _load_all(build_dataset, geo_pipeline, data['index_path'])
    # and rebuilding the index refuses it too
    with pytest.raises(
        GeoSampleError, match=re.escape(path) + ': has 9 bands, expected 10 per date x 1 date'
    ):
        build_geo_index(data['root'], data['index_path'])


def test_different_crs_is_refused(geo_data, build_dataset, geo_pipeline):
    data = geo_data()
    path = osp.join(data['samples'][0]['folder'], 's1.tif')
    _rewrite(path, crs=CRS.from_epsg(32632))
    with pytest.raises(
        GeoSampleError,
        match=re.escape(path) + ': CRS EPSG:32632 differs from the sample CRS EPSG:32633.*gdalwarp',
    ):
        _load_all(build_dataset, geo_pipeline, data['index_path'])
    with pytest.raises(
        GeoSampleError,
        match=re.escape(path) + ': CRS EPSG:32632 differs from the sample CRS EPSG:32633',
    ):
        build_geo_index(data['root'], data['index_path'])


def test_extents_that_do_not_overlap(geo_data, build_dataset, geo_pipeline):
    data = geo_data()
    path = _first_s2(data['samples'][0])
    with rasterio.open(path) as src:
        t = src.transform
    _rewrite(path, transform=from_origin(t.c + 5000.0, t.f, t.a, -t.e))  # 5 km east
    with pytest.raises(
        GeoSampleError,
        match=re.escape(path) + ': extent .* does not cover the requested ground box',
    ):
        _load_all(build_dataset, geo_pipeline, data['index_path'])
    with pytest.raises(GeoSampleError, match=re.escape(path) + ': extent .* does not overlap'):
        build_geo_index(data['root'], data['index_path'])


def test_crop_that_is_all_nodata(geo_data, build_dataset, geo_pipeline):
    data = geo_data()
    path = osp.join(data['samples'][0]['folder'], 's1.tif')
    with rasterio.open(path) as src:
        nan = np.full((src.count, src.height, src.width), np.nan, dtype=np.float32)
    _rewrite(path, nan)
    with pytest.raises(
        GeoSampleError,
        match='random crops for global view 0 is entirely nodata '
        r'in s1 \(' + re.escape(path) + r'\)',
    ):
        _load_all(build_dataset, geo_pipeline, data['index_path'])


def test_bad_index_fields(tmp_path, build_dataset, geo_pipeline, geo_data):
    data = geo_data()
    with open(data['index_path']) as f:
        content = json.load(f)
    content['data_list'][0]['s2'][1]['date'] = '2021-13-45'
    bad = tmp_path / 'bad_index.json'
    bad.write_text(json.dumps(content))
    with pytest.raises(
        GeoSampleError,
        match=r'bad_index.json data_list\[0\]\.s2\[1\]\.date: '
        "expected a date as YYYY-MM-DD, got '2021-13-45'",
    ):
        build_dataset(str(bad), geo_pipeline())


def test_skip_policy_counts_and_logs(geo_data, build_dataset, geo_pipeline):
    from mmengine.logging import MMLogger

    data = geo_data(num_samples=3)
    bad_path = osp.join(data['samples'][1]['folder'], 'hr.tif')
    os.remove(bad_path)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        dataset = build_dataset(
            data['index_path'],
            geo_pipeline(num_frames=ALL_FRAMES),
            on_bad_sample='skip',
            test_mode=True,
        )
        packed = dataset[1]  # bad: the next sample comes instead
    finally:
        logger.removeHandler(handler)
    assert packed['inputs'].sample_idx == 2
    assert dataset.num_skipped == 1
    assert dataset.sample_summary() == dict(num_samples=3, num_skipped=1)
    messages = [r.getMessage() for r in records]
    assert any(
        f'{bad_path}: file does not exist' in m and '1 skipped so far' in m for m in messages
    ), messages
    # the default policy raises on the same sample
    strict = build_dataset(data['index_path'], geo_pipeline(num_frames=ALL_FRAMES))
    with pytest.raises(GeoSampleError, match=re.escape(bad_path) + ': file does not exist'):
        strict[1]


def test_index_builder_skips_and_lists_bad_folders(geo_data, tmp_path):
    data = geo_data(num_samples=2)
    path = _first_s2(data['samples'][0])
    os.remove(path)
    like = _first_s2(data['samples'][0])
    with rasterio.open(like) as src:
        ones = np.ones((10, src.height, src.width), dtype=src.dtypes[0])
    bad_name = osp.join(osp.dirname(path), 'S2_nodate.tif')
    # neither a date tag nor a date name
    write_geotiff_like(bad_name, like, ones, tags=False)
    with pytest.raises(GeoSampleError, match=re.escape(bad_name) + ': no acquisition date'):
        build_geo_index(data['root'], str(tmp_path / 'strict.json'))
    content = build_geo_index(data['root'], str(tmp_path / 'lenient.json'), on_bad_sample='skip')
    assert [e['sample_id'] for e in content['data_list']] == ['sample_00001']
    assert content['metainfo']['skipped'][0]['sample'] == 'sample_00000'
    assert 'no acquisition date' in content['metainfo']['skipped'][0]['error']
