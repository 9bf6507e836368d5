"""Downstream datasets read the official layouts, draw seeded training-ratio splits and fail
clearly on bad data."""

import csv
import json
import os
import os.path as osp

import numpy as np
import pytest
from fake_releases import downstream as fake_data
from fake_releases.release_tables import ben_official_19

from mmskysense.datasets.downstream import (
    AIDDataset,
    BigEarthNetS2Dataset,
    DynamicEarthNetDataset,
    FMoWSentinelDataset,
    RESISC45Dataset,
)
from mmskysense.datasets.downstream.bigearthnet import ben19_labels
from mmskysense.datasets.downstream.dynamic_earthnet import month_sequence
from mmskysense.datasets.downstream.splits import random_ratio_subset, stratified_ratio_split


def test_stratified_split_is_seeded_and_per_class():
    labels = [0] * 10 + [1] * 20 + [2] * 5
    a = stratified_ratio_split(labels, 0.2, seed=3)
    assert a == stratified_ratio_split(labels, 0.2, seed=3)
    assert a != stratified_ratio_split(labels, 0.2, seed=4)
    counts = np.bincount([labels[i] for i in a], minlength=3)
    assert counts.tolist() == [2, 4, 1]
    with pytest.raises(ValueError, match='train ratio'):
        stratified_ratio_split(labels, 0.0, seed=0)


def test_random_subset():
    sub = random_ratio_subset(100, 0.1, seed=0)
    assert len(sub) == 10 and sub == sorted(set(sub))
    assert sub == random_ratio_subset(100, 0.1, seed=0)
    assert random_ratio_subset(7, 1.0, seed=0) == list(range(7))


@pytest.fixture(scope='module')
def aid_root(tmp_path_factory):
    return fake_data.make_aid(str(tmp_path_factory.mktemp('AID')), per_class=4, size=16)


def test_aid_training_ratio_split(aid_root):
    train = AIDDataset(data_root=aid_root, split='train', train_ratio=0.5, seed=1)
    test = AIDDataset(data_root=aid_root, split='test', train_ratio=0.5, seed=1)
    assert len(train) == 60 and len(test) == 60
    train_paths = {train.get_data_info(i)['img_path'] for i in range(len(train))}
    test_paths = {test.get_data_info(i)['img_path'] for i in range(len(test))}
    assert not train_paths & test_paths
    assert np.bincount(train.get_gt_labels(), minlength=30).tolist() == [2] * 30
    info = train.get_data_info(0)
    assert (
        osp.basename(osp.dirname(info['img_path'])) == train.metainfo['classes'][info['gt_label']]
    )
    other = AIDDataset(data_root=aid_root, split='train', train_ratio=0.5, seed=2)
    assert {other.get_data_info(i)['img_path'] for i in range(len(other))} != train_paths


def test_scene_folder_rejects_unknown_and_missing_classes(tmp_path):
    os.makedirs(tmp_path / 'aid' / 'NotAClass')
    with pytest.raises(ValueError, match='NotAClass'):
        AIDDataset(data_root=str(tmp_path / 'aid'), split='all')
    with pytest.raises(FileNotFoundError, match=r"\['wetland'\] are missing"):
        RESISC45Dataset(data_root=str(_resisc_with_missing(tmp_path)), split='all')


def _resisc_with_missing(tmp_path):
    root = tmp_path / 'resisc'
    fake_data.make_resisc45(str(root), per_class=1, size=8)
    import shutil

    shutil.rmtree(root / 'wetland')
    return root


def test_bigearthnet_layout_labels_and_ratio(tmp_path):
    root = fake_data.make_bigearthnet(str(tmp_path), patches=dict(train=20, val=2, test=2), size=12)
    full = BigEarthNetS2Dataset(data_root=root, split='train', train_ratio=1.0)
    tenth = BigEarthNetS2Dataset(data_root=root, split='train', train_ratio=0.1, seed=0)
    assert len(full) == 20 and len(tenth) == 2
    info = full.get_data_info(0)
    assert len(info['band_paths']) == 10 and info['band_paths'][0].endswith('_B02.tif')
    name = osp.basename(info['img_path'])
    with open(osp.join(info['img_path'], f'{name}_labels_metadata.json')) as f:
        names = json.load(f)['labels']
    assert info['gt_label'] == ben_official_19(names)
    # the cloud/snow lists drop patches
    with open(osp.join(root, 'patches_with_seasonal_snow.csv'), 'w') as f:
        f.write(name + '\n')
    assert len(BigEarthNetS2Dataset(data_root=root, split='train')) == 19


def test_bigearthnet_mapping_and_errors(tmp_path):
    assert ben19_labels(
        ['Continuous urban fabric', 'Discontinuous urban fabric', 'Sea and ocean', 'Airports'], 'x'
    ) == [0, 18]
    with pytest.raises(ValueError, match='Martian dunes'):
        ben19_labels(['Martian dunes'], 'patch.json')
    with pytest.raises(FileNotFoundError, match='train.csv'):
        BigEarthNetS2Dataset(data_root=str(tmp_path), split='train')


def test_fmow_groups_locations_in_time_order(tmp_path):
    root = fake_data.make_fmow_sentinel(
        str(tmp_path), locations=dict(train=3, val=1, test=1), dates=(2, 4), size=8
    )
    ds = FMoWSentinelDataset(data_root=root, split='train')
    assert len(ds) == 3
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert info['timestamps'] == sorted(info['timestamps'])
        assert all(osp.isfile(p) for p in info['img_paths'])
        cat = ds.metainfo['classes'][info['gt_label']]
        assert all(f'/{cat}/' in p for p in info['img_paths'])
    assert len(FMoWSentinelDataset(data_root=root, split='test')) == 1


def test_fmow_unknown_category(tmp_path):
    with open(tmp_path / 'train.csv', 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['category', 'location_id', 'image_id', 'timestamp'])
        w.writerow(['volcano_lair', 0, 0, '2017-01-01T00:00:00Z'])
    with pytest.raises(ValueError, match="line 2: unknown category 'volcano_lair'"):
        FMoWSentinelDataset(data_root=str(tmp_path), split='train')


def test_dynamic_earthnet_planet_and_s2(tmp_path):
    root = fake_data.make_dynamic_earthnet(
        str(tmp_path),
        cubes=dict(train=1, val=1, test=1),
        months=('2018-01', '2018-02', '2018-03'),
        size=32,
        s2_size=10,
        cell=8,
    )
    pla = DynamicEarthNetDataset(data_root=root, split='train', modality='planet')
    assert len(pla) == 3
    info = pla.get_data_info(2)
    assert info['img_path'].endswith(
        osp.join('planet', '10N', '27E-188N', '1300_3000_13', 'PF-SR', '2018-03-01.tif')
    )
    assert osp.isfile(info['img_path']) and osp.isfile(info['seg_map_path'])
    s2 = DynamicEarthNetDataset(data_root=root, split='train', modality='s2', num_months=6)
    paths = s2.get_data_info(2)['img_paths']
    assert [osp.basename(p) for p in paths] == ['2018-01.tif', '2018-02.tif', '2018-03.tif']
    assert osp.join('sentinel2', '10N', '27E-188N', '1300_3000_13', 'S2') in paths[0]
    assert month_sequence('2019-02', 3) == ['2018-12', '2019-01', '2019-02']


def test_dynamic_earthnet_bad_split_line(tmp_path):
    os.makedirs(tmp_path / 'dynnet_training_splits')
    (tmp_path / 'dynnet_training_splits' / 'train.txt').write_text('/planet/a/b/PF-SR 2018-01\n')
    with pytest.raises(ValueError, match='train.txt line 1'):
        DynamicEarthNetDataset(data_root=str(tmp_path), split='train')
    (tmp_path / 'dynnet_training_splits' / 'train.txt').write_text(
        '/planet/10N/1300_3000_13/PF-SR /labels/x.tif 2018-01\n'
    )
    with pytest.raises(ValueError, match='<zone>/<tile>/<cube>/PF-SR'):
        DynamicEarthNetDataset(data_root=str(tmp_path), split='train')
