"""The modality table is the one place a modality is declared: a DEM (one band, static, MS-like,
on the S2 grid) added to the table for one test reaches the index, the crop, the flips, the
packer, the data preprocessor and the backbone, fusion and heads of the pretraining, with no
other change; and every series loader picks dates by the table's ``select_dates``."""

import os
import os.path as osp

import numpy as np
import pytest
import rasterio
import torch
from helpers.geotiff import write_geotiff
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

from mmskysense.datasets.geo import GeoMultiModalDataset, build_geo_index
from mmskysense.registry import MODELS
from mmskysense.structures.modalities import (
    Modality,
    backbone_modalities,
    modality_names,
    registered_modality,
    select_dates,
)
from mmskysense.utils import register_all_modules

register_all_modules()

DEM = Modality('dem', channels=1, kind='ms', series=False, gsd_ratio=8, mean=(100.0,), std=(50.0,))
ELEVATION = 175.0  # (175 - 100) / 50 = 1.5 after normalisation


def _write_dems(root: str) -> None:
    """A constant-elevation DEM on a 10 m grid over each sample's HR extent."""
    for name in sorted(os.listdir(root)):
        with rasterio.open(osp.join(root, name, 'hr.tif')) as src:
            left, bottom, right, top = src.bounds
        side = int(np.ceil(max(right - left, top - bottom) / 10.0))
        data = np.full((1, side, side), ELEVATION, dtype=np.float32)
        write_geotiff(osp.join(root, name, 'dem.tif'), data, res=10.0, origin=(left, top))


def test_the_table_is_every_default():
    assert modality_names() == ('hr', 's2', 's1')
    with registered_modality(DEM):
        assert modality_names() == ('hr', 's2', 's1', 'dem')
        assert backbone_modalities()['dem'] == dict(in_channels=1, kind='ms')
    assert 'dem' not in modality_names()  # removed when the block ends


def test_select_dates_is_the_one_selector():
    assert select_dates(10, 4, 'even') == [0, 3, 6, 9]
    assert select_dates(10, 3, 'first') == [0, 1, 2]
    assert select_dates(10, 3, 'last') == [7, 8, 9]
    assert select_dates(2, 5, 'even') == [0, 1]  # short series kept whole
    picked = select_dates(10, 4, 'random', np.random.RandomState(0))
    assert picked == sorted(picked) and len(set(picked)) == 4
    with pytest.raises(ValueError, match='must be one of'):
        select_dates(10, 4, 'middle')


def test_a_modality_added_to_the_table_trains_end_to_end(tmp_path, one_intra_op_thread):
    from mmskysense.datasets.geo.synthetic import generate_geo_dataset

    data = generate_geo_dataset(
        str(tmp_path / 'geo'), num_samples=2, num_s2_dates=3, num_s1_dates=2, write_index=False
    )
    _write_dems(data['root'])
    index = str(tmp_path / 'geo' / 'index.json')
    with registered_modality(DEM):
        content = build_geo_index(data['root'], index)
        assert all(e['dem']['bands'] == [1] for e in content['data_list'])
        pipeline = [
            dict(type='SampleTemporalFrames', num_frames=dict(s2=2, s1=1)),
            dict(type='GeoMultiCrop', num_global=2, num_local=2, global_size=32, local_size=16),
            dict(type='GeoRandomFlipRotate'),
            dict(type='PackSkySenseInputs'),
        ]
        with DefaultScope.overwrite_default_scope('mmskysense'):
            dataset = GeoMultiModalDataset(ann_file=index, pipeline=pipeline)
        packed = [dataset[0], dataset[1]]
        model = MODELS.build(
            dict(
                type='SkySenseV2',
                backbone=dict(type='SkySenseV2Backbone', arch='tiny', out_indices=(3,)),
                fusion=dict(type='MultiModalTemporalFusion', embed_dims=32, num_layers=1),
                mgcl_head=dict(type='MGCLHead', out_dims=16, num_objects=2),
                qsacl_head=None,
            )
        )
        model.init_weights()
        batch = model.data_preprocessor(pseudo_collate(packed), True)['inputs']
        losses = model.loss(batch)
    dem = batch.global_views.images['dem']
    assert dem.shape == (2, 2, 1, 4, 4)  # HR 32 // gsd_ratio 8, one band
    valid = batch.global_views.valid_masks['dem']
    assert valid.all()
    torch.testing.assert_close(dem, torch.full_like(dem, 1.5), rtol=0, atol=1e-6)
    assert 'mgcl_pixel_dem' in losses and torch.isfinite(losses['mgcl_pixel_dem'])
    total, _ = model.parse_losses(losses)
    total.backward()
    grad = model.backbone.tokenizers['dem'].proj.weight.grad
    assert grad is not None and grad.abs().sum() > 0
