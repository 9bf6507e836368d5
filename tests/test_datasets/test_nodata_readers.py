"""Nodata in every downstream reader: a declared nodata block (rasterio's ``nodata``), NaN and
internal masks reach the model as 0 with a validity mask, and the label as the ignore index.

One test per dataset family, each through the pipeline of the family's config (the fine-tuning
and ``tools/test.py`` pipelines), on generated releases laid out as the real ones
(``fake_releases``), with a nodata block written into one of the release's own files:

* segmentation: Dyna.-S2 (a Sentinel-2 month series and its one-hot label);
* change detection: OSCD (per-band GeoTIFFs of two dates);
* multi-modal / time series: Dyna.-MM (a -9999 block in a Sentinel-1 month, the case found on
  real files, which the dB check let through), PASTIS-R (NaN in the ``.npy`` series), BEN-MM;
* classification: BigEarthNet-S2 (per-band GeoTIFFs, nodata 0 in one band).

Before the raster package's nodata rule the readers returned the nodata value itself as data
and scored the label under it.
"""

import numpy as np
import pytest
import rasterio
from fake_releases import change_detection as fake_cd
from fake_releases import downstream as fake_data
from fake_releases import multimodal as fake_mm
from mmengine.config import Config
from mmengine.registry import init_default_scope

ROOT = __file__.rsplit('/tests/', 1)[0]
BLOCK = (slice(2, 6), slice(1, 5))  # rows, cols of the nodata block on the file's grid


def _punch(path, value, rows=BLOCK[0], cols=BLOCK[1], declare=True):
    """Write ``value`` over ``rows, cols`` of every band of ``path`` and declare it as the
    file's nodata value (``declare=False``: NaN with no declaration)."""
    with rasterio.open(path, 'r+') as dst:
        data = dst.read()
        data[:, rows, cols] = value
        dst.write(data)
        if declare:
            dst.nodata = value
    return path


def _dataset(config, data_root, pipeline='test_pipeline', **overrides):
    from mmskysense.registry import DATASETS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    init_default_scope('mmskysense')
    cfg = Config.fromfile(f'{ROOT}/configs/_base_/datasets/{config}')
    spec = dict(cfg.test_dataloader.dataset)
    spec.update(data_root=data_root, pipeline=cfg[pipeline], **overrides)
    return DATASETS.build(spec)


def _loaded(dataset, index):
    """The pipeline's results just before packing (the packer keeps only model inputs)."""
    results = dataset.get_data_info(index)
    for t in dataset.pipeline.transforms[:-1]:
        results = t(results)
    return results


def test_segmentation_dyna_s2_nodata_block(tmp_path):
    root = fake_data.make_dynamic_earthnet(
        str(tmp_path), cubes=dict(train=1, val=1, test=1), months=('2018-01', '2018-02'),
        size=32, s2_size=16, cell=8,
    )  # fmt: skip
    ds = _dataset('dynamic_earthnet_s2.py', root, split='test', num_months=2)
    info = ds.get_data_info(1)  # February: a two-month series
    s2_paths = info['img_paths']
    assert len(s2_paths) == 2
    for p in s2_paths:  # no data on either date: the label there is not evidence
        _punch(p, 0)
    out = _loaded(ds, 1)
    img, seg = out['img'], out['gt_seg_map']
    # the block, on the 256 px grid of the config (16 -> 256: x16)
    rows, cols = slice(2 * 16, 6 * 16), slice(1 * 16, 5 * 16)
    assert (img[rows, cols] == 0).all()
    assert not out['img_valid'][rows, cols].any()
    assert (seg[rows, cols] == 255).all()
    # outside it everything is data, and the label is the release's
    assert out['img_valid'].sum() == 256 * 256 - 64 * 64
    real = img[..., : 2 * 10]  # two real months of 10 bands, then padded dates (0)
    assert (seg[100:, 100:] != 255).any() and (real[100:, 100:] > 0).all()
    # one date without data keeps the label (the other date holds data)
    root2 = fake_data.make_dynamic_earthnet(
        str(tmp_path / 'one'), cubes=dict(train=1, val=1, test=1), months=('2018-01', '2018-02'),
        size=32, s2_size=16, cell=8,
    )  # fmt: skip
    ds2 = _dataset('dynamic_earthnet_s2.py', root2, split='test', num_months=2)
    _punch(ds2.get_data_info(1)['img_paths'][0], 0)
    one = _loaded(ds2, 1)
    january = one['img'][..., :10]
    assert (january[rows, cols] == 0).all() and (one['img'][rows, cols, 10:20] > 0).all()
    assert (one['gt_seg_map'][rows, cols] != 255).any()


def test_segmentation_label_raster_nodata(tmp_path):
    """A label raster's own nodata value is no class: the ignore index."""
    from helpers.geotiff import write_geotiff

    from mmskysense.datasets.transforms import LoadMultiBandImage, LoadSegMapFromRaster

    img = write_geotiff(tmp_path / 'img.tif', np.full((3, 8, 8), 100, np.uint16))
    labels = np.arange(64, dtype=np.uint8).reshape(1, 8, 8) % 4
    labels[0, :3, :3] = 7
    lab = write_geotiff(tmp_path / 'lab.tif', labels, nodata=7)
    out = LoadSegMapFromRaster(num_classes=4)(
        LoadMultiBandImage()(dict(img_path=img, seg_map_path=lab))
    )
    assert (out['gt_seg_map'][:3, :3] == 255).all()
    assert (out['gt_seg_map'][3:] == labels[0, 3:]).all()


def test_change_detection_oscd_nodata_block(tmp_path):
    root = fake_cd.make_oscd(str(tmp_path), cities=dict(train=('abudhabi',), test=('dubai',)))
    ds = _dataset('oscd.py', root, split='test')
    info = ds.get_data_info(0)
    b04 = [p for p in info['img_paths'][1] if p.endswith('B04.tif')][0]
    _punch(b04, 0)  # one band of date 2
    out = _loaded(ds, 0)
    img, seg = out['img'], out['gt_seg_map']
    rows, cols = BLOCK
    assert (img[rows, cols] == 0).all()  # both dates, every band: the pixel has no data
    valid = out['img_valid']
    assert not valid[rows, cols].any() and valid.sum() == valid.size - 16
    assert (seg[rows, cols] == 255).all()
    assert set(np.unique(seg[6:])) <= {0, 1}
    assert (img[6:, 5:] > 0).all()


def _dyna_mm(tmp_path):
    return fake_data.make_dynamic_earthnet(
        str(tmp_path), cubes=dict(train=1, val=1, test=1), months=('2018-01', '2018-02'),
        size=32, s2_size=8, cell=8,
    )  # fmt: skip


def test_multimodal_dyna_s1_month_nodata_block(tmp_path):
    """The case found on real files: -9999 in a Sentinel-1 month, declared nodata."""
    root = _dyna_mm(tmp_path)
    ds = _dataset('dynamic_earthnet_mm.py', root, split='test')
    info = ds.get_data_info(1)
    s1_paths = info['modalities']['s1']['paths']
    _punch(s1_paths[-1], -9999.0, rows=slice(2, 5), cols=slice(1, 4))
    out = _loaded(ds, 1)
    s1 = out['mm_inputs']['s1']
    assert s1.min() > -100  # not one -9999 reaches the model
    valid = out['valid_masks']['s1']
    t = len(s1_paths) - 1  # the last month, kept by select='last'
    h = s1.shape[1]
    f = h // 8  # the config's S1 grid over the file's 8 px
    block = (slice(2 * f, 5 * f), slice(1 * f, 4 * f))
    assert (s1[t][block] == 0).all() and not valid[t][block].any()
    assert valid[t].sum() == h * h - (3 * f) ** 2 and valid[:t].all()
    # the dB check still sees dB values (every valid one below 0)
    assert (s1[t][valid[t]] < 0).all()
    # the other modalities hold data there: the label is kept
    assert (out['gt_seg_map'] != 255).any()
    # packed into the metainfo for the model
    packed = ds.pipeline.transforms[-1](out)
    assert packed['data_samples'].valid_masks['s1'].shape == valid.shape


def test_multimodal_pastis_nan_block(tmp_path):
    root = fake_mm.make_pastis_r(str(tmp_path / 'PASTIS-R'), patches_per_fold=1, size=16, cell=8)
    ds = _dataset('pastis_mm.py', root, split='test', fold=1)
    info = ds.get_data_info(0)
    for m in ('s2', 's1'):  # NaN over the block on every date of both series
        path = info['modalities'][m]['array']
        arr = np.load(path)
        arr = arr.astype(np.float32)
        arr[:, :, 3:7, 2:6] = np.nan
        np.save(path, arr)
    out = _loaded(ds, 0)
    for m in ('s2', 's1'):
        x = out['mm_inputs'][m]
        assert np.isfinite(x).all() and (x[:, 3:7, 2:6] == 0).all()
        valid, real = out['valid_masks'][m], out['date_masks'][m]
        assert not valid[:, 3:7, 2:6].any()
        assert valid[real][:, 8:, 8:].all()
    assert (out['gt_seg_map'][3:7, 2:6] == 255).all()


def test_multimodal_ben_mm_s1_nodata_block(tmp_path):
    root = fake_data.make_bigearthnet(
        str(tmp_path), patches=dict(train=2, val=1, test=1), size=12, with_s1=True,
        split_columns=2,
    )  # fmt: skip
    ds = _dataset('bigearthnet_mm.py', root, split='test')
    vv, vh = ds.get_data_info(0)['modalities']['s1']['band_paths']
    _punch(vh, -9999.0)
    out = _loaded(ds, 0)
    s1 = out['mm_inputs']['s1']
    assert s1.min() > -100  # not one -9999 reaches the model
    valid = out['valid_masks']['s1']
    # the file's pixel under each output pixel's centre (the config resamples 12 px -> h)
    h, w = valid.shape
    src_r = ((np.arange(h) + 0.5) * 12 / h).astype(int)
    src_c = ((np.arange(w) + 0.5) * 12 / w).astype(int)
    in_block = ((src_r >= 2) & (src_r < 6))[:, None] & ((src_c >= 1) & (src_c < 5))[None]
    assert in_block.sum() > 0
    np.testing.assert_array_equal(valid, ~in_block)
    assert (s1[in_block] == 0).all() and (s1[~in_block] < 0).all()  # dB elsewhere


def test_classification_bigearthnet_s2_nodata_block(tmp_path):
    root = fake_data.make_bigearthnet(str(tmp_path), patches=dict(train=2, val=1, test=1), size=24)
    ds = _dataset('bigearthnet_s2.py', root, split='test')
    info = ds.get_data_info(0)
    b04 = [p for p in info['band_paths'] if p.endswith('_B04.tif')][0]
    _punch(b04, 0)
    from mmskysense.datasets.transforms import LoadMultiBandImage

    loader = ds.pipeline.transforms[0]
    assert isinstance(loader, LoadMultiBandImage)
    out = loader(dict(info))
    img = out['img']
    assert (img[BLOCK] == 0).all()  # every band: the pixel has no data
    valid = out['img_valid']
    assert not valid[BLOCK].any()
    assert valid.sum() == 24 * 24 - 16 and (img[8:, 8:] > 0).all()


@pytest.mark.parametrize('kind', ['nan', 'mask'])
def test_one_rule_nan_and_internal_mask(tmp_path, kind):
    """NaN without a declaration, and a GDAL internal mask, are no data as a nodata value is."""
    from helpers.geotiff import write_geotiff

    from mmskysense.datasets.raster import read_raster_valid

    data = np.full((2, 8, 8), 5.0, np.float32)
    path = write_geotiff(tmp_path / f'{kind}.tif', data)
    if kind == 'nan':
        _punch(path, np.nan, declare=False)
    else:
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            with rasterio.open(path, 'r+') as dst:
                mask = np.full((8, 8), 255, np.uint8)
                mask[BLOCK] = 0
                dst.write_mask(mask)
    img, valid = read_raster_valid(path)
    assert (img[BLOCK] == 0).all() and not valid[BLOCK].any()
    assert valid.sum() == 64 - 16 and (img[valid] == 5.0).all()
