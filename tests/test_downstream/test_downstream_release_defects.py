"""One test per defect found by reading the readers beside the dataset authors' code and
TorchGeo's readers (docs/downstream.md, "Checked against"); each fails on the old behaviour.

References are the tables of ``fake_releases.release_tables`` (transcribed from the authors'
files), never the readers' own constants.
"""

import json
import os
import os.path as osp
import warnings

import mmcv
import numpy as np
import pytest
from fake_releases import downstream as fake_data
from fake_releases.release_tables import (
    BEN_LABEL_INDICES,
    DYNNET_PLANET_MEAN_RGBN,
    DYNNET_PLANET_STD_RGBN,
    ben_dropped_names,
    ben_official_19,
)

from mmskysense.datasets.downstream import (
    BigEarthNetS2Dataset,
    DynamicEarthNetDataset,
    ISAIDDataset,
    PotsdamDataset,
)
from mmskysense.datasets.downstream.bigearthnet import ben19_labels
from mmskysense.datasets.transforms import LoadOneHotLabel

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _converter(name):
    import importlib.util

    path = osp.join(ROOT, 'tools', 'dataset_converters', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'defects_conv_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- BigEarthNet
def test_ben_mapping_is_the_official_label_conversion():
    # every one of the 43 names, alone, maps as label_indices.json says (Intertidal flats: none)
    for name in BEN_LABEL_INDICES['original_labels']:
        assert ben19_labels([name], 'x') == ben_official_19([name]), name
    assert ben19_labels(['Intertidal flats'], 'x') == []
    assert len(ben_dropped_names()) == 11 and 'Intertidal flats' in ben_dropped_names()


def test_ben_patch_with_only_dropped_names_is_skipped(tmp_path):
    root = fake_data.make_bigearthnet(
        str(tmp_path), patches=dict(train=6, val=1, test=1), size=12, only_dropped=2
    )
    ds = BigEarthNetS2Dataset(data_root=root, split='train')
    assert len(ds) == 4
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        name = osp.basename(info['img_path'])
        with open(osp.join(info['img_path'], f'{name}_labels_metadata.json')) as f:
            assert info['gt_label'] == ben_official_19(json.load(f)['labels'])


# ------------------------------------------------------------------------- DynamicEarthNet
def _dyn(tmp_path, **kwargs):
    args = dict(cubes=dict(train=2, val=1, test=1), months=('2018-01', '2018-02'), size=32)
    args.update(s2_size=8, cell=8)
    args.update(kwargs)
    return fake_data.make_dynamic_earthnet(str(tmp_path), **args)


def test_dyna_s2_path_taken_from_the_real_planet_depth(tmp_path):
    # /reprocess-cropped/UTM-24000/<zone>/<tile>/<cube>/PF-SR: the old reader took the tile
    # for the zone and looked for sentinel2/<tile>/<cube>/...
    root = _dyn(tmp_path)
    ds = DynamicEarthNetDataset(data_root=root, split='train', modality='s2', num_months=2)
    assert len(ds) == 4
    for i in range(len(ds)):
        assert all(osp.isfile(p) for p in ds.get_data_info(i)['img_paths'])
    assert '/sentinel2/10N/27E-188N/1300_3000_13/S2/' in ds.get_data_info(0)['img_path']


def test_dyna_missing_release_files_reported_when_built(tmp_path):
    root = _dyn(tmp_path, missing=('train:1',))
    with pytest.raises(FileNotFoundError) as err:
        DynamicEarthNetDataset(data_root=root, split='train')
    message = str(err.value)
    assert '2 of 4 listed samples' in message
    assert 'labels/1301_3001_13_10N/' in message and '2018_02_01.tif' in message
    with pytest.warns(UserWarning, match='skipped'):
        ds = DynamicEarthNetDataset(data_root=root, split='train', skip_missing=True)
    assert len(ds) == 2 and all(d['cube'] == '1300_3000_13' for d in ds.load_data_list())


def test_dyna_unclaimed_pixels_ignored_and_authors_choice_available(tmp_path):
    root = _dyn(tmp_path, unclaimed=3)
    ds = DynamicEarthNetDataset(data_root=root, split='val')
    path = ds.get_data_info(0)['seg_map_path']
    seg = LoadOneHotLabel()(dict(seg_map_path=path))['gt_seg_map']
    assert (seg[:3] == 255).all()
    # the authors' loop (aysim/dynnet data/utae_dynamicen.py), written out independently
    import rasterio

    with rasterio.open(path) as src:
        label = src.read()
    authors = np.zeros(label.shape[1:], np.int64)
    for i in range(7):
        authors[label[i] == 255] = -1 if i == 6 else i
    authors[authors == -1] = 255
    theirs = LoadOneHotLabel(unclaimed_index=0)(dict(seg_map_path=path))['gt_seg_map']
    assert (theirs == authors).all()
    assert (seg[3:] == authors[3:]).all()


def test_dyna_planet_statistics_are_the_authors(tmp_path):
    from mmengine.config import Config

    cfg = Config.fromfile(
        osp.join(
            ROOT, 'configs/skysense_v2_seg/upernet_skysense-v2-huge_4xb4-40k_dyna-pla-512x512.py'
        )
    )
    # the config reads bands R, G, B: the first three of the authors' R, G, B, NIR statistics
    assert cfg.model.data_preprocessor.mean == pytest.approx(DYNNET_PLANET_MEAN_RGBN[:3])
    assert cfg.model.data_preprocessor.std == pytest.approx(DYNNET_PLANET_STD_RGBN[:3])


# --------------------------------------------------------------------------------- iSAID
def _load_seg(ds, index):
    from mmseg.datasets.transforms import LoadAnnotations

    info = ds.get_data_info(index)
    img = mmcv.imread(info['img_path'])
    out = LoadAnnotations()(dict(info, seg_fields=[]))
    return img, out['gt_seg_map']


def test_isaid_reads_mmsegmentation_converter_output(tmp_path):
    root = fake_data.make_isaid_mmseg_converted(str(tmp_path), patches=dict(train=2, val=1))
    ds = ISAIDDataset(
        data_root=root, data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train')
    )
    assert len(ds) == 2
    img, seg = _load_seg(ds, 0)
    assert img.shape == (64, 64, 3) and seg.shape == (64, 64)
    assert seg.max() <= 15 and len(np.unique(seg)) > 3


def test_isaid_converter_writes_mmsegmentation_names(tmp_path):
    raw = fake_data.make_isaid(str(tmp_path / 'raw'), images=dict(train=1), size=80, cell=16)
    _converter('isaid').convert(raw, str(tmp_path / 'out'), ['train'], patch_size=64, stride=48)
    names = sorted(os.listdir(tmp_path / 'out' / 'ann_dir' / 'train'))
    assert names[0] == 'P0000_0_64_0_64_instance_color_RGB.png'
    ds = ISAIDDataset(
        data_root=str(tmp_path / 'out'),
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
    )
    assert len(ds) == 4 and _load_seg(ds, 3)[1].shape == (64, 64)


# ------------------------------------------------------------------------------- Potsdam
def test_potsdam_label_archive_without_top_folder(tmp_path):
    raw = fake_data.make_potsdam(str(tmp_path / 'raw'), tiles=('2_10', '2_13'), size=64, cell=16)
    assert osp.isfile(osp.join(raw, 'top_potsdam_2_10_label_noBoundary.tif'))
    n = _converter('potsdam').convert(raw, str(tmp_path / 'out'), patch_size=64)
    assert n == 2
    folder = fake_data.make_potsdam(
        str(tmp_path / 'raw2'), tiles=('2_10',), size=64, cell=16, labels_in_folder=True
    )
    assert _converter('potsdam').convert(folder, str(tmp_path / 'out2'), patch_size=64) == 1
    os.remove(osp.join(raw, 'top_potsdam_2_13_label_noBoundary.tif'))
    with pytest.raises(FileNotFoundError, match='top_potsdam_2_13_label_noBoundary.tif'):
        _converter('potsdam').convert(raw, str(tmp_path / 'out3'), patch_size=64)


def test_potsdam_mmsegmentation_patches_need_reduce_zero_label(tmp_path):
    root = fake_data.make_potsdam_mmseg_converted(str(tmp_path))
    prefix = dict(img_path='img_dir/val', seg_map_path='ann_dir/val')
    with pytest.raises(ValueError, match='reduce_zero_label=True'):
        PotsdamDataset(data_root=root, data_prefix=prefix)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ds = PotsdamDataset(data_root=root, data_prefix=prefix, reduce_zero_label=True)
    _, seg = _load_seg(ds, 0)
    assert set(np.unique(seg)) <= set(range(6)) | {255} and (seg == 255).any()
