"""The multi-modal datasets read the releases as distributed: BEN-MM pairs, Dyna.-MM months and
missing modalities, PASTIS-R folds, dates and statistics, user HR GeoTIFFs; and their bad
inputs are errors naming the file (or a documented masked modality)."""

import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from fake_releases import downstream as fake_data
from fake_releases import multimodal as fake_mm

from mmskysense.datasets.downstream import (
    BigEarthNetMMDataset,
    DynamicEarthNetMMDataset,
    LoadPASTISTarget,
    PASTISDataset,
)
from mmskysense.datasets.transforms import LoadMultiModalImages, LoadOneHotLabel


def _ben(tmp_path, **kwargs):
    args = dict(patches=dict(train=4, val=1, test=1), size=12, with_s1=True, split_columns=2)
    args.update(kwargs)
    return fake_data.make_bigearthnet(str(tmp_path), **args)


BEN_LOAD = LoadMultiModalImages(
    dict(s2=dict(num_bands=10), s1=dict(num_bands=2, out_size=(12, 12), sar='db'))
)


def test_ben_mm_pairs_and_modality_sets(tmp_path):
    root = _ben(tmp_path)
    ds = BigEarthNetMMDataset(data_root=root, split='train')
    info = ds.get_data_info(0)
    assert set(info['modalities']) == {'s2', 's1'}
    assert info['modalities']['s1']['band_paths'][0].endswith('_VV.tif')
    out = BEN_LOAD(dict(info))
    assert out['mm_inputs']['s2'].shape == (12, 12, 10) and out['mm_inputs']['s1'].shape[-1] == 2
    assert (out['mm_inputs']['s1'] < 0).all()  # dB, as the pretraining's s1
    only_s1 = BigEarthNetMMDataset(data_root=root, split='train', modalities=('s1',))
    assert set(only_s1.get_data_info(0)['modalities']) == {'s1'}
    # one-column (S2-only) split files pair through s1s2_mapping.csv
    one = _ben(tmp_path / 'one', split_columns=1)
    assert BigEarthNetMMDataset(data_root=one, split='train').get_data_info(0)['s1_path']


def test_ben_mm_bad_pairs(tmp_path):
    root = _ben(tmp_path)
    ds = BigEarthNetMMDataset(data_root=root, split='train')
    s1_folder = ds.get_data_info(1)['s1_path']
    s1_name = osp.basename(s1_folder)
    meta = osp.join(s1_folder, f'{s1_name}_labels_metadata.json')
    with open(meta) as f:
        content = json.load(f)
    with open(meta, 'w') as f:
        json.dump(dict(content, corresponding_s2_patch='S2A_other'), f)
    with pytest.raises(ValueError, match=f'{s1_name}_labels_metadata.json: corresponding_s2'):
        BigEarthNetMMDataset(data_root=root, split='train')
    os.remove(meta)
    with pytest.raises(FileNotFoundError, match=f'{s1_name}_labels_metadata.json'):
        BigEarthNetMMDataset(data_root=root, split='train')


def test_ben_mm_s1_on_other_ground_or_linear(tmp_path):
    root = _ben(tmp_path)
    info = BigEarthNetMMDataset(data_root=root, split='train').get_data_info(0)
    vv, vh = info['modalities']['s1']['band_paths']
    fake_data._write_tif(vv, np.full((1, 12, 12), -10, np.float32), origin=(500300.0, 5000000.0))
    with pytest.raises(ValueError, match=f'{osp.basename(vv)} covers .* cover the same ground'):
        BEN_LOAD(dict(info))
    for p in (vv, vh):
        fake_data._write_tif(p, np.full((1, 12, 12), 0.05, np.float32))
    with pytest.raises(ValueError, match='linear power, not dB'):
        BEN_LOAD(dict(info))


def _dyna(tmp_path, **kwargs):
    args = dict(cubes=dict(train=2, val=1, test=1), months=('2018-01', '2018-02'), size=32)
    args.update(s2_size=8, cell=8)
    args.update(kwargs)
    return fake_data.make_dynamic_earthnet(str(tmp_path), **args)


DYNA_LOAD = LoadMultiModalImages(
    dict(
        hr=dict(bands=[3, 2, 1], num_bands=3, out_size=(32, 32)),
        s2=dict(bands=[2, 3], num_bands=2, out_size=(8, 8), num_dates=2, select='last'),
        s1=dict(bands=[1, 2], num_bands=2, out_size=(8, 8), num_dates=2, select='last',
                sar='db'),
    )
)  # fmt: skip


def _dyna_sample(ds, i):
    return DYNA_LOAD(LoadOneHotLabel()(dict(ds.get_data_info(i))))


def test_dyna_mm_missing_sentinel1_is_masked(tmp_path):
    # cube 0 has no Sentinel-1 at all, cube 1 lacks January
    missing = [(0, '2018-01'), (0, '2018-02'), (1, '2018-01')]
    root = _dyna(tmp_path, missing_s1=missing)
    ds = DynamicEarthNetMMDataset(data_root=root, split='train', num_months=2)
    assert len(ds) == 4
    absent = _dyna_sample(ds, 1)  # cube 0, February
    assert ds.get_data_info(1)['missing_modalities'] == ['s1']
    assert absent['modality_mask'] == dict(hr=True, s2=True, s1=False)
    assert not absent['date_masks']['s1'].any() and absent['date_masks']['s2'].all()
    partial = _dyna_sample(ds, 3)  # cube 1, February: only February has S1
    assert partial['modality_mask']['s1'] and partial['date_masks']['s1'].tolist() == [True, False]
    assert partial['doy']['s1'].tolist() == [46, 0]
    assert (
        osp.join('planet', '10N', '28E-189N', '1301_3001_13', 'PF-SR')
        in (ds.get_data_info(3)['modalities']['hr']['path'])
    )
    # after packing and the data preprocessor: zeros where masked, the mask kept
    from mmskysense.datasets.transforms import PackMultiModalInputs
    from mmskysense.models.data_preprocessors import MultiModalDataPreprocessor

    packed = [PackMultiModalInputs()(s) for s in (absent, partial)]
    pre = MultiModalDataPreprocessor(mean=dict(s1=[-10.0, -17.0]), std=dict(s1=[3.0, 3.0]))
    batch = pre(dict(inputs=[p['inputs'] for p in packed], data_samples=[p['data_samples']
                     for p in packed]))  # fmt: skip
    s1 = batch['inputs']['s1']
    assert (s1[0] == 0).all() and (s1[1, 1] == 0).all() and (s1[1, 0] != 0).any()


def test_dyna_mm_dates_of_one_series_share_a_grid(tmp_path):
    root = _dyna(tmp_path)
    ds = DynamicEarthNetMMDataset(data_root=root, split='val', num_months=2)
    path = ds.get_data_info(1)['modalities']['s2']['paths'][1]
    fake_data._write_tif(path, np.zeros((12, 6, 6), np.uint16), gsd=16.0)
    with pytest.raises(ValueError, match=f'{osp.basename(path)} is 6 x 6 but .* same series'):
        _dyna_sample(ds, 1)
    with pytest.raises(KeyError, match='not told how to read'):
        LoadMultiModalImages(dict(s2=DYNA_LOAD.modalities['s2']))(dict(ds.get_data_info(0)))


def _pastis(tmp_path, **kwargs):
    return fake_mm.make_pastis_r(
        str(tmp_path / 'PASTIS-R'), patches_per_fold=1, size=16, cell=8,
        hr_root=str(tmp_path / 'HR'), **kwargs
    )  # fmt: skip


PASTIS_LOAD = LoadMultiModalImages(
    dict(
        s2=dict(bands=list(range(1, 11)), num_bands=10, num_dates=4),
        s1=dict(bands=[1, 2], num_bands=2, num_dates=4, sar='db'),
        hr=dict(bands=[1, 2, 3], num_bands=3, out_size=(32, 32)),
    )
)


def test_pastis_folds_dates_and_statistics(tmp_path):
    root = _pastis(tmp_path)
    train = PASTISDataset(data_root=root, split='train', fold=2, modalities=('s2', 's1'))
    assert train.folds == (2, 3, 4) and len(train) == 3
    assert PASTISDataset(data_root=root, split='test', fold=2).folds == (1,)
    info = train.get_data_info(0)
    with open(osp.join(root, 'metadata.geojson')) as f:
        feature = json.load(f)['features'][1]  # ID 10001, fold 2
    raw = json.loads(feature['properties']['dates-S2'])
    assert info['id_patch'] == 10001 and len(info['modalities']['s2']['dates']) == len(raw)
    assert (
        info['modalities']['s2']['dates'][0]
        == f'{raw["0"] // 10000}-{raw["0"] // 100 % 100:02d}-{raw["0"] % 100:02d}'
    )  # noqa: E501
    out = PASTIS_LOAD(LoadPASTISTarget()(dict(info)))
    s2 = np.load(info['modalities']['s2']['array'])
    keep = np.linspace(0, len(s2) - 1, 4).round().astype(int) if len(s2) > 4 else range(len(s2))
    expected = (s2[list(keep)].transpose(0, 2, 3, 1) - 2200.0) / 1300.0  # NORM_S2 of the fake
    real = out['date_masks']['s2']
    assert np.allclose(out['mm_inputs']['s2'][real], expected[: real.sum()], atol=1e-5)
    target = np.load(info['seg_map_path'])[0]
    assert (out['gt_seg_map'][target == 19] == 255).all()
    assert (out['gt_seg_map'][target < 19] == target[target < 19]).all()
    mono = PASTISDataset(data_root=root, split='train', fold=2, mono_date='2019-06-01')
    assert len(mono.get_data_info(0)['modalities']['s2']['select_dates']) == 1


def test_pastis_hr_geotiffs(tmp_path):
    root = _pastis(tmp_path, missing_hr=(10002,), hr_gsd=2.0)
    with pytest.warns(UserWarning, match='1 of 3 patches have no HR GeoTIFF'):
        ds = PASTISDataset(data_root=root, split='train', modalities=('s2', 'hr'),
                           hr_root=str(tmp_path / 'HR'))  # fmt: skip
    by_id = {ds.get_data_info(i)['id_patch']: i for i in range(len(ds))}
    out = PASTIS_LOAD(LoadPASTISTarget()(dict(ds.get_data_info(by_id[10002]))))
    assert out['modality_mask']['hr'] is False and (out['mm_inputs']['hr'] == 0).all()
    ok = PASTIS_LOAD(LoadPASTISTarget()(dict(ds.get_data_info(by_id[10000]))))
    assert ok['modality_mask']['hr'] and ok['mm_inputs']['hr'].shape == (32, 32, 3)
    # read over the patch only: the margin around it (class 0's colour) is not in the read
    assert ok['mm_inputs']['hr'].std() > 5
    with pytest.raises(ValueError, match='needs hr_root'):
        PASTISDataset(data_root=root, modalities=('hr',))
    # an HR GeoTIFF that does not cover its patch
    info = ds.get_data_info(by_id[10000])
    fake_data._write_tif(info['modalities']['hr']['path'], np.zeros((3, 8, 8), np.uint8),
                         crs='EPSG:2154', origin=(0.0, 0.0))  # fmt: skip
    with pytest.raises(ValueError, match="10000.tif covers .* does not contain the sample's"):
        PASTIS_LOAD(LoadPASTISTarget()(dict(info)))


def test_pastis_bad_release_files(tmp_path):
    root = _pastis(tmp_path)
    path = osp.join(root, 'DATA_S2', 'S2_10000.npy')
    s2 = np.load(path)
    np.save(path, np.concatenate([s2, s2[:1]]))
    ds = PASTISDataset(data_root=root, split='train')
    with pytest.raises(ValueError, match=f'S2_10000.npy holds {len(s2) + 1} dates but its '
                                         f'metadata lists {len(s2)}'):  # fmt: skip
        PASTIS_LOAD(LoadPASTISTarget()(dict(ds.get_data_info(0))))
    os.remove(osp.join(root, 'DATA_S1A', 'S1A_10001.npy'))
    with pytest.raises(FileNotFoundError, match='patch 10001: .*S1A_10001.npy'):
        PASTISDataset(data_root=root, split='train')


def test_batch_of_disagreeing_sizes():
    from mmskysense.models.data_preprocessors import MultiModalDataPreprocessor

    batch = dict(s2=[torch.zeros(10, 8, 8), torch.zeros(10, 6, 6)])
    with pytest.raises(ValueError, match="modality 's2' has shapes"):
        MultiModalDataPreprocessor()(dict(inputs=batch, data_samples=None))
