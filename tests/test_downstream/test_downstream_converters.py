"""iSAID and Potsdam patch cutting from the release layouts."""

import importlib.util
import os
from pathlib import Path

import mmcv
import numpy as np
import pytest
from fake_releases import downstream as fake_data

from mmskysense.datasets.downstream import ISAIDDataset, PotsdamDataset
from mmskysense.datasets.tiling import window_starts

ROOT = Path(__file__).resolve().parents[2]


def _converter(name):
    spec = importlib.util.spec_from_file_location(
        f'conv_{name}', ROOT / 'tools' / 'dataset_converters' / f'{name}.py'
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_window_starts_cover_the_tile():
    assert window_starts(6000, 512, 256)[-1] == 6000 - 512
    assert window_starts(100, 896, 512) == [0]
    assert window_starts(1024, 512, 512) == [0, 512]


def test_isaid_converter(tmp_path):
    raw = fake_data.make_isaid(
        str(tmp_path / 'raw'), images=dict(train=1, val=1), size=100, cell=20
    )
    n = _converter('isaid').convert(
        raw, str(tmp_path / 'out'), ['train', 'val'], patch_size=64, stride=48
    )
    assert n == 8  # 2 x 2 windows per image
    ds = ISAIDDataset(
        data_root=str(tmp_path / 'out'),
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
    )
    assert len(ds) == 4
    info = ds.get_data_info(0)
    ids = mmcv.imread(info['seg_map_path'], flag='unchanged')
    assert ids.shape == (64, 64) and ids.max() < 16
    # the colours of the release map back to the generator's classes
    colour = mmcv.imread(
        os.path.join(raw, 'train', 'Semantic_masks', 'images', 'P0000_instance_color_RGB.png'),
        channel_order='rgb',
    )
    assert (np.array(ds.metainfo['palette'])[ids] == colour[:64, :64]).all()


def test_isaid_unknown_colour(tmp_path):
    raw = fake_data.make_isaid(str(tmp_path / 'raw'), images=dict(train=1), size=32, cell=16)
    mask = os.path.join(raw, 'train', 'Semantic_masks', 'images', 'P0000_instance_color_RGB.png')
    bad = mmcv.imread(mask)
    bad[0, 0] = (1, 2, 3)
    mmcv.imwrite(bad, mask)
    with pytest.raises(ValueError, match='P0000_instance_color_RGB.png: colour'):
        _converter('isaid').convert(raw, str(tmp_path / 'out'), ['train'], 16, 16)


def test_potsdam_converter(tmp_path):
    raw = fake_data.make_potsdam(
        str(tmp_path / 'raw'), tiles=('2_10', '2_13', '9_9'), size=96, cell=16
    )
    with pytest.warns(UserWarning, match='9_9'):
        n = _converter('potsdam').convert(
            raw, str(tmp_path / 'out'), patch_size=64, train_stride=32, val_stride=64
        )
    assert n == 4 + 4  # 2 x 2 windows per tile (train stride 32, val stride 64)
    val = PotsdamDataset(
        data_root=str(tmp_path / 'out'),
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
    )
    assert len(val) == 4
    ids = mmcv.imread(val.get_data_info(0)['seg_map_path'], flag='unchanged')
    assert set(np.unique(ids)) <= set(range(6)) | {255}
    assert (ids == 255).any()  # eroded boundaries of the noBoundary labels are ignored
