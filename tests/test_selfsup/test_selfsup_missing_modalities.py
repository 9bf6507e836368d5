"""Pretraining from any subset of modalities (issue 24, point 1): a sample folder with HR alone
indexes and pretrains with the HR recipe; a sample that lacks a modality the recipe trains gets
it masked (zeros, nothing valid, padded dates) and the whole objective stays finite; with
``missing_modality='error'`` (or ``required=`` at index build) the sample is refused by name."""

import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from tiny_pretraining import text_embeddings, tiny_model_cfg

from mmskysense.datasets.geo import GeoMultiModalDataset, GeoSampleError, build_geo_index
from mmskysense.datasets.geo.synthetic import generate_geo_dataset
from mmskysense.registry import MODELS
from mmskysense.utils import register_all_modules

register_all_modules()

RECIPE = osp.join(
    osp.dirname(__file__),
    '../../configs/skysense_v2/skysense-v2_tiny_1xb8-cpu-800it-hr-ita_geo-demo.py',
)


def _samples(tmp_path, num: int = 2) -> str:
    data = generate_geo_dataset(
        str(tmp_path / 'geo'), num_samples=num, num_s2_dates=3, num_s1_dates=2, write_index=False
    )
    return data['root']


def _drop(root: str, sample: str, names: tuple[str, ...]) -> None:
    """Remove a sample's files of ``names`` (a series' file and folder)."""
    for name in names:
        for path in (osp.join(root, sample, name + '.tif'), osp.join(root, sample, name)):
            if osp.isdir(path):
                shutil.rmtree(path)
            elif osp.isfile(path):
                os.remove(path)


def _dataset(index: str, **crop) -> GeoMultiModalDataset:
    pipeline = [
        dict(type='SampleTemporalFrames', num_frames=dict(s2=2, s1=2)),
        dict(type='GeoMultiCrop', num_global=2, num_local=2, global_size=32, local_size=16, **crop),
        dict(type='GeoRandomFlipRotate'),
        dict(type='PackSkySenseInputs'),
    ]
    with DefaultScope.overwrite_default_scope('mmskysense'):
        return GeoMultiModalDataset(ann_file=index, pipeline=pipeline)


def test_an_hr_only_folder_indexes_and_its_absent_modalities_are_masked(tmp_path):
    root = _samples(tmp_path, num=1)
    _drop(root, 'sample_00000', ('s2', 's1'))
    index = str(tmp_path / 'index.json')
    entry = build_geo_index(root, index)['data_list'][0]
    assert entry['s2'] == [] and entry['s1'] == [] and entry['hr']['path'].endswith('hr.tif')
    # refused by name where the recipe requires a modality at index build
    with pytest.raises(GeoSampleError, match=r'sample_00000: no s2 GeoTIFFs; expected s2\.tif'):
        build_geo_index(root, index, required=('s2',))
    build_geo_index(root, index)
    np.random.seed(0)
    sample = _dataset(index)[0]['inputs']
    assert sample.date_masks['s2'].tolist() == [False, False]
    assert sample.doy['s1'].tolist() == [0, 0]
    for _, views in sample.groups():
        assert views.valid_masks['hr'].any()
        for m in ('s2', 's1'):
            assert not views.valid_masks[m].any() and not views.images[m].any()
        # the table's bands, on the MS grid (HR // 8)
        assert views.images['s2'].shape[-3:] == (10,) + tuple(
            n // 8 for n in views.images['hr'].shape[-2:]
        )
    # with masking off the sample is refused, naming its files and the policy
    hr = osp.join(root, 'sample_00000', 'hr.tif')
    with pytest.raises(GeoSampleError, match=r"has no s2, s1 \(its files: .*hr\.tif.*'error'"):
        _dataset(index, missing_modality='error')[0]
    try:
        _dataset(index, missing_modality='error')[0]
    except GeoSampleError as err:
        assert err.path == hr
    # a recipe that reads HR alone never looks for the others
    only = _dataset(index, modalities=('hr',), missing_modality='error')[0]['inputs']
    assert set(only.global_views.images) == {'hr'}


def test_an_s2_only_sample_crops_on_the_s2_grid(tmp_path):
    root = _samples(tmp_path, num=1)
    _drop(root, 'sample_00000', ('hr', 's1', 'osm'))
    index = str(tmp_path / 'index.json')
    entry = build_geo_index(root, index)['data_list'][0]
    assert entry['hr'] is None and len(entry['s2']) == 3
    np.random.seed(0)
    sample = _dataset(index)[0]['inputs']
    views = sample.global_views
    assert not views.valid_masks['hr'].any() and views.valid_masks['s2'].any()
    boxes = views.view_boxes
    # boxes snap to the 10 m S2 grid when there is no HR image
    assert torch.allclose(
        torch.remainder(boxes - boxes[0, 0], 10.0).amin(), torch.tensor(0.0).double()
    )
    assert sample.global_views.osm_label is None


@pytest.fixture
def mixed_batch(tmp_path):
    """Two samples, the second without S1, through the pipeline and the preprocessor."""
    root = _samples(tmp_path, num=2)
    _drop(root, 'sample_00001', ('s1',))
    index = str(tmp_path / 'index.json')
    content = build_geo_index(root, index)
    assert [bool(e['s1']) for e in content['data_list']] == [True, False]
    np.random.seed(1)
    dataset = _dataset(index)
    packed = [dataset[0], dataset[1]]
    for i, p in enumerate(packed):
        p['inputs'].region_id = i  # inside the tiny model's 10 regions
    return pseudo_collate(packed), str(tmp_path / 'text.pth')


def test_a_mixed_index_trains_every_term_with_finite_losses(mixed_batch, one_intra_op_thread):
    data, text = mixed_batch
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(text_embeddings(text)))
    model.init_weights()
    model.train()
    batch = model.data_preprocessor(data, True)['inputs']
    assert batch.date_masks['s1'].tolist() == [[True, True], [False, False]]
    assert not batch.local_views.valid_masks['s1'][1].any()
    losses = model.loss(batch)
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    for key in ('loss_mgcl', 'loss_qsacl', 'loss_gcpl', 'loss_ita', 'mgcl_image_s1'):
        assert torch.isfinite(losses[key]), key
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_a_fully_masked_modality_leaves_the_fusion_finite_and_unmoved():
    """F_fus over a modality with no valid token: finite, and equal to F_fus without it (the
    masked keys take no attention; the fusion token always has itself)."""
    fusion = MODELS.build(
        dict(type='MultiModalTemporalFusion', in_dims=8, embed_dims=8, num_layers=1, num_heads=2)
    ).eval()
    g = torch.Generator().manual_seed(0)
    feats = dict(
        hr=torch.randn(2, 8, 3, 3, generator=g), s1=torch.randn(2, 2, 8, 3, 3, generator=g)
    )
    masks = dict(
        hr=torch.ones(2, 3, 3, dtype=torch.bool), s1=torch.zeros(2, 2, 3, 3, dtype=torch.bool)
    )
    doy = dict(s1=torch.zeros(2, 2, dtype=torch.long))
    with torch.no_grad():
        fused, valid = fusion(feats, masks, doy)
        alone, _ = fusion(dict(hr=feats['hr']), dict(hr=masks['hr']))
        masks['hr'][:] = False  # nothing valid at all: still finite, marked invalid
        empty, none_valid = fusion(feats, masks, doy)
    assert torch.isfinite(fused).all() and valid.all()
    torch.testing.assert_close(fused, alone, rtol=0, atol=1e-6)
    assert torch.isfinite(empty).all() and not none_valid.any()


@pytest.mark.slow
def test_the_hr_recipe_pretrains_on_an_hr_only_folder(tmp_path):
    """The demo's HR recipe, shrunk, trains end to end from HR-only samples (no S2, no S1)."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    root = _samples(tmp_path, num=2)
    for sample in ('sample_00000', 'sample_00001'):
        _drop(root, sample, ('s2', 's1'))
    build_geo_index(root, str(tmp_path / 'index.json'))
    cfg = Config.fromfile(RECIPE)
    cfg.work_dir = str(tmp_path / 'work')
    # a visualizer of its own: mmengine keeps one instance per name for the process, and an
    # earlier runner's (same name) would write this run's scalars into its own folder
    cfg.visualizer.name = f'hr_only_{tmp_path.name}'
    cfg.model.ita_head.loss.text_embeddings = text_embeddings(str(tmp_path / 'text.pth'))
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.update(data_root=str(tmp_path), ann_file='index.json')
    cfg.train_cfg.max_iters = 2
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=2)]
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'KNNEvalHook']
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    runner = Runner.from_cfg(cfg)
    runner.train()
    logs = [
        json.loads(line)
        for line in open(osp.join(runner.log_dir, 'vis_data', 'scalars.json'))
        if '"loss_ita"' in line
    ]
    assert len(logs) == 2 and all(np.isfinite(r['loss']) and r['loss_ita'] > 0 for r in logs)
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_2.pth'))
