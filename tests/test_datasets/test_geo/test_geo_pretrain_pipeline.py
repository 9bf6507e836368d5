"""End to end: generator -> index -> dataset -> the base config's pipeline -> packed sample ->
DataLoader workers -> SkySenseDataPreprocessor batch, with the shapes of docs/interfaces.md."""

import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader

from mmskysense.structures import PretrainSample

CFG = osp.join(
    osp.dirname(__file__),
    '..',
    '..',
    '..',
    'configs',
    '_base_',
    'datasets',
    'skysense_pretrain_geotiff.py',
)


@pytest.fixture
def cfg():
    return Config.fromfile(CFG)


def test_index_describes_generated_files(geo_data):
    data = geo_data(num_samples=2, num_s2_dates=5, num_s1_dates=4)
    from mmskysense.datasets.geo import load_geo_index

    entries = load_geo_index(data['index_path'])
    assert [e['sample_id'] for e in entries] == ['sample_00000', 'sample_00001']
    for entry, sample in zip(entries, data['samples']):
        assert entry['crs'] == 'EPSG:32633'
        assert np.allclose(entry['bounds'], sample['bounds'])  # HR tile inside the S2 grid
        assert [f['date'] for f in entry['s2']] == sample['s2_dates']
        assert [f['date'] for f in entry['s1']] == sample['s1_dates']
        # S2: one file per date; S1: one multi-date file, 2 bands per date
        assert len({f['path'] for f in entry['s2']}) == 5
        assert [f['bands'] for f in entry['s1']] == [[1, 2], [3, 4], [5, 6], [7, 8]]
        assert 0 <= entry['region_id'] < 4096
        assert entry['osm'] is not None


def test_land_cover_is_consistent_across_modalities(geo_data, build_dataset, geo_pipeline):
    """Where the OSM-like label says water, S2 NIR and S1 VV are dark; built-up is bright."""
    data = geo_data(seed=7, nodata=False)
    pipeline = geo_pipeline(
        flip_rotate=False,
        num_global=1,
        num_local=1,
        global_size=dict(hr=32, s2=32, s1=32),
        global_scale=(1.0, 1.0),
        ratio=(1.0, 1.0),
    )
    packed = build_dataset(data['index_path'], pipeline)[0]
    views = packed['inputs'].global_views
    label = views.osm_label[0]  # 32 x 32, HR-sized
    nir = views.images['s2'][0, :, 6].mean(0)  # B8 over dates
    vv = views.images['s1'][0, :, 0].mean(0)
    rgb = views.images['hr'][0].mean(0)
    water, built = label == 0, label == 2
    assert water.sum() > 10 and built.sum() > 10
    assert nir[water].mean() < 0.5 * nir[built].mean()
    assert vv[water].mean() < vv[built].mean() - 8.0  # dB
    assert rgb[water].mean() < rgb[built].mean()
    assert (label == 255).any()  # unlabelled OSM patches


def test_config_pipeline_sample_matches_contract(cfg, geo_data, build_dataset):
    data = geo_data(num_samples=1, num_s2_dates=12, num_s1_dates=3)  # T < K for S1
    dataset = build_dataset(data['index_path'], cfg.train_pipeline)
    packed = dataset[0]
    sample = packed['inputs']
    assert isinstance(sample, PretrainSample) and set(packed) == {'inputs'}
    shapes = {g: {m: tuple(t.shape) for m, t in v.images.items()} for g, v in sample.groups()}
    assert shapes == dict(
        global_views=dict(hr=(2, 3, 224, 224), s2=(2, 10, 10, 28, 28), s1=(2, 5, 2, 28, 28)),
        local_views=dict(hr=(6, 3, 96, 96), s2=(6, 10, 10, 12, 12), s1=(6, 5, 2, 12, 12)),
    )
    assert all(t.dtype == torch.float32 for _, v in sample.groups() for t in v.images.values())
    assert sample.global_views.valid_masks['hr'].shape == (2, 224, 224)
    assert sample.local_views.valid_masks['s2'].shape == (6, 10, 12, 12)
    assert sample.local_views.valid_masks['s1'].dtype == torch.bool
    assert sample.date_masks['s1'].tolist() == [True, True, True, False, False]
    assert sample.date_masks['s2'].all()
    assert sample.doy['s1'][3:].tolist() == [0, 0] and (sample.doy['s1'][:3] >= 1).all()
    assert (torch.diff(sample.doy['s2']) > 0).all()  # sampled dates stay in time order
    assert sample.global_views.view_boxes.shape == (2, 4)
    assert sample.global_views.view_boxes.dtype == torch.float64
    assert sample.local_views.view_geo_ops.shape == (6, 3)
    assert sample.global_views.osm_label.shape == (2, 224, 224)
    assert sample.local_views.osm_label.dtype == torch.long
    assert isinstance(sample.region_id, int) and sample.sample_idx == 0
    # local views are smaller pieces of ground than global ones
    area = {
        g: ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).mean()
        for g, b in ((g, v.view_boxes) for g, v in sample.groups())
    }
    assert area['local_views'] < area['global_views']


def test_dataloader_workers_and_preprocessor_batch(cfg, geo_data, build_dataset):
    data = geo_data(num_samples=4, num_s2_dates=6, num_s1_dates=6)
    cfg.train_pipeline[1].update(num_local=2)
    dataset = build_dataset(data['index_path'], cfg.train_pipeline)
    # fork-started workers open their own rasterio handles (the parent opened some already)
    dataset[0]
    loader = DataLoader(
        dataset,
        batch_size=2,
        num_workers=2,
        collate_fn=pseudo_collate,
        multiprocessing_context='fork',
    )
    from mmskysense.registry import MODELS

    pre = MODELS.build(cfg.data_preprocessor)
    batches = [pre(batch, training=True) for batch in loader]
    assert len(batches) == 2
    batch = batches[0]['inputs']  # a PretrainBatch (docs/interfaces.md)
    assert batch.global_views.images['hr'].shape == (2, 2, 3, 224, 224)
    assert batch.global_views.images['s2'].shape == (2, 2, 10, 10, 28, 28)
    assert batch.local_views.images['s1'].shape == (2, 2, 5, 2, 12, 12)
    assert batch.local_views.valid_masks['s2'].shape == (2, 2, 10, 12, 12)
    assert batch.date_masks['s2'].shape == (2, 10)
    assert batch.date_masks['s2'][:, 6:].sum() == 0  # 6 dates < K = 10: padding
    assert batch.doy['s1'].shape == (2, 5)
    assert batch.global_views.view_boxes.shape == (2, 2, 4)
    assert batch.local_views.view_geo_ops.shape == (2, 2, 3)
    assert batch.global_views.osm_label.shape == (2, 2, 224, 224)
    assert batch.region_id.shape == (2,) and set(batches[0]) == {'inputs'}
    # normalised: zero where invalid, roughly standardised where valid
    for _, group in batch.groups():
        for m in ('hr', 's2', 's1'):
            x, valid = group.images[m], group.valid_masks[m]
            assert (x.abs().amax(dim=-3)[~valid] == 0).all()
            assert x.abs().amax(dim=-3)[valid].mean() < 10
    idx = sorted(b['inputs'].sample_idx.tolist() for b in batches)
    idx = sorted(i for pair in idx for i in pair)
    assert idx == [0, 1, 2, 3]
