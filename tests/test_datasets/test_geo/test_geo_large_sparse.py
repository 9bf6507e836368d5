"""A sample whose HR file is huge for its ground loads its views with memory bounded by the views.

The HR GeoTIFF declares 24,000 x 24,000 px (3 bands, 1.7 GB of pixels) over the sample's 80 m,
but only a few of its tiles are on disk (sparse); it has no overviews. Read at native resolution
(the reader before issue 15), one global view's window alone took ~3.4 GB.
"""

import os
import os.path as osp
import re

import numpy as np
import pytest
import rasterio
from helpers.geotiff import write_geotiff
from rasterio.windows import Window

SIDE = 24_000
# the bound asserted on the peak memory added by loading one sample (views, GDAL's cache and
# the reader's buffers): the native read of a single global view would need ~3.4 GB
PEAK_BOUND_MB = 400


def _peak_rss_mb() -> float:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM'):
                return int(line.split()[1]) / 1024
    raise RuntimeError('no VmHWM in /proc/self/status')


def _reset_peak() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def _sparse_hr(path: str, bounds: tuple) -> None:
    """Replace ``path`` by a sparse SIDE x SIDE RGB raster over ``bounds``."""
    from rasterio.transform import from_bounds

    with rasterio.open(path) as src:
        crs = src.crs
    os.remove(path)
    rng = np.random.default_rng(0)
    # a diagonal of written tiles; the rest is empty
    tiles = (
        (Window(k, k, 512, 512), rng.integers(1, 255, (3, 512, 512), dtype=np.uint8))
        for k in range(0, SIDE - 512, 2048)
    )
    write_geotiff(
        path,
        np.broadcast_to(np.uint8(0), (3, SIDE, SIDE)),  # the shape alone, not allocated
        crs=crs,
        transform=from_bounds(*bounds, SIDE, SIDE),
        block=512,
        compress='deflate',
        sparse_ok=True,
        pieces=tiles,
    )


def test_huge_sparse_hr_loads_views_within_a_memory_bound(geo_data, build_dataset, geo_pipeline):
    from mmskysense.datasets.geo import build_geo_index

    data = geo_data(num_s2_dates=3, num_s1_dates=2, hr_overviews=False)
    sample = data['samples'][0]
    hr_path = osp.join(sample['folder'], 'hr.tif')
    _sparse_hr(hr_path, sample['bounds'])
    assert osp.getsize(hr_path) < 20 * 2**20  # mostly empty on disk
    build_geo_index(data['root'], data['index_path'])
    pipeline = geo_pipeline(num_frames=dict(s2=3, s1=2), num_local=2, flip_rotate=False)
    dataset = build_dataset(data['index_path'], pipeline)
    if not _reset_peak():
        pytest.skip('cannot reset the peak RSS (/proc/self/clear_refs)')
    before = _peak_rss_mb()
    item = dataset[0]
    added = _peak_rss_mb() - before
    print(f'HR declared {SIDE} x {SIDE} px: loading one sample added {added:.0f} MiB of peak RSS')
    views = item['inputs'].global_views.images['hr']
    assert tuple(views.shape) == (2, 3, 224, 224)
    assert item['inputs'].global_views.valid_masks['hr'].all()  # no nodata value
    assert added < PEAK_BOUND_MB, f'loading the sample added {added:.0f} MiB'

    # a read that cannot fit the budget is refused before anything is allocated
    whole = geo_pipeline(
        num_frames=dict(s2=3, s1=2),
        num_local=2,
        flip_rotate=False,
        read_mode=dict(hr='whole'),
    )
    from mmskysense.datasets.geo import GeoSampleError

    with pytest.raises(
        GeoSampleError, match=re.escape(hr_path) + r': reading it whole needs \d+ MiB, over'
    ):
        build_dataset(data['index_path'], whole)[0]
