"""What a model expects of a scene (from its config) and how a scene's files are aligned and read
tile by tile: ground windows through each file's transform, series, padding, errors."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

from mmskysense.apis.scene import ModalityInput, SceneInputs, SceneSpec, scene_spec_from_config
from mmskysense.datasets.raster import RasterError
from mmskysense.datasets.tiling import TileGrid

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    'scene_toys', Path(__file__).with_name('scene_toys.py')
)
toys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toys)


def _cfg(rel: str) -> Config:
    return Config.fromfile(str(REPO / rel))


def test_inputs_come_from_the_config():
    demo = scene_spec_from_config(
        _cfg('configs/demo/upernet_skysense-v2-tiny_1xb4-300it_geo-demo-128x128.py')
    )
    assert [(m.name, m.channels, m.num_dates, m.bands_or_default(3)) for m in demo.inputs] == [
        ('hr', 3, None, [1, 2, 3])
    ]
    s2 = scene_spec_from_config(
        _cfg('configs/skysense_v2_seg/upernet_skysense-v2-huge_4xb4-40k_dyna-s2-256x256.py')
    ).reference
    assert (s2.name, s2.channels, s2.num_dates, s2.select) == ('s2', 10, 6, 'last')
    assert s2.bands == [2, 3, 4, 5, 6, 7, 8, 9, 11, 12]
    # iSAID's images were loaded by OpenCV (BGR): an RGB scene is handed over reversed
    isaid = scene_spec_from_config(
        _cfg('configs/skysense_v2_seg/upernet_skysense-v2-huge_4xb4-40k_isaid-896x896.py')
    ).reference
    assert isaid.bands == [3, 2, 1]
    fmow = scene_spec_from_config(
        _cfg('configs/skysense_v2_cls/linear_skysense-v2-huge_4xb16-20k_fmow-s2.py')
    ).reference
    assert (fmow.name, fmow.num_dates, fmow.channels) == ('s2', 6, 10)
    mm = Config(dict(model=dict(backbone=dict(type='SkySenseV2Backbone', modalities=dict()))))
    with pytest.raises(ValueError, match='state its inputs in the config'):
        scene_spec_from_config(mm)
    stated = Config(dict(scene_inputs=[dict(name='hr'), dict(name='s1', num_dates=2, scale=0.125)]))
    assert scene_spec_from_config(stated).names == ['hr', 's1']


def _marker_files(tmp_path):
    """HR at 0.5 m; S2 at 10 m on a grid 25 m west and 15 m north of it, whose band 1 holds
    its column index and band 2 its row index (so a read shows where it came from)."""
    hr = toys.hr_scene(tmp_path / 'hr.tif', size=128, hole=False)
    rows, cols = np.mgrid[0:12, 0:12].astype(np.float32)
    s2 = toys.write_raster(
        tmp_path / 's2.tif', np.stack([cols, rows]), 10.0, (toys.X0 - 25, toys.Y0 + 15)
    )
    return hr, s2


def test_other_grids_are_read_through_their_own_transform(tmp_path):
    hr, s2 = _marker_files(tmp_path)
    spec = SceneSpec(
        [ModalityInput('hr', bands=[1, 2, 3]), ModalityInput('s2', bands=[1, 2], scale=0.25)]
    )
    with SceneInputs.open(spec, dict(hr=hr, s2=s2)) as scene:
        assert (scene.height, scene.width) == (128, 128)  # S2 covers all of HR
        grid = TileGrid(128, 128, 64, 0)
        tiles = list(grid)
        batch = scene.read(tiles)
    assert batch.inputs['hr'].dtype == np.uint8 and batch.inputs['hr'].shape == (4, 3, 64, 64)
    assert batch.inputs['s2'].shape == (4, 2, 16, 16)
    for n, tile in enumerate(tiles):
        # S2 pixel centres at 2 m (0.25 x 0.5 m^-1): ground x of output column j, in S2 columns
        j = np.arange(16)
        x = toys.X0 + tile.col * 0.5 + (j + 0.5) * 2.0
        y = toys.Y0 - tile.row * 0.5 - (j + 0.5) * 2.0
        expect_col = (x - (toys.X0 - 25)) / 10.0 - 0.5  # a linear band is interpolated exactly
        expect_row = ((toys.Y0 + 15) - y) / 10.0 - 0.5
        np.testing.assert_allclose(
            batch.inputs['s2'][n, 0], np.broadcast_to(expect_col, (16, 16)), atol=1e-4
        )
        np.testing.assert_allclose(
            batch.inputs['s2'][n, 1], np.broadcast_to(expect_row[:, None], (16, 16)), atol=1e-4
        )
    assert batch.valid['s2'].all() and batch.out_valid.all()


def test_series_of_a_multi_date_file_is_split_selected_and_padded(tmp_path):
    hr = toys.hr_scene(tmp_path / 'hr.tif', size=64, hole=False)
    dates = np.arange(1, 4, dtype=np.float32)[:, None, None, None] * np.ones(
        (3, 2, 4, 4), np.float32
    )
    dates[2] = np.nan  # the third date holds no data here
    stack = dates.reshape(6, 4, 4)  # date-major: date t, band b -> band 2t + b
    stack[1] = 10  # band 2 of date 1
    s1 = toys.write_raster(
        tmp_path / 's1.tif',
        stack,
        10.0,
        (toys.X0, toys.Y0 + 2),
        nodata=float('nan'),
        tags=dict(ACQUISITION_DATES='2021-01-05,2021-02-10,2021-03-15'),
    )
    spec = SceneSpec(
        [ModalityInput('hr', channels=3), ModalityInput('s1', channels=2, num_dates=4, scale=0.125)]
    )
    with SceneInputs.open(spec, dict(hr=[hr], s1=[s1])) as scene:
        batch = scene.read([TileGrid(64, 64, 32, 0).tile_at(0, 0)])
    x = batch.inputs['s1']
    assert x.shape == (1, 4, 2, 4, 4)
    np.testing.assert_array_equal(batch.date_mask['s1'], [[True, True, False, False]])
    assert (x[0, 0, 0] == 1).all() and (x[0, 0, 1] == 10).all() and (x[0, 1] == 2).all()
    assert not x[0, 3].any()
    np.testing.assert_array_equal(batch.doy['s1'], [5, 41, 74, 0])


def test_errors_name_the_file(tmp_path):
    hr = toys.hr_scene(tmp_path / 'hr.tif', size=64)
    other_crs = toys.write_raster(
        tmp_path / 'utm32.tif', np.ones((2, 8, 8), np.float32), 10.0, crs='EPSG:32632'
    )
    far = toys.write_raster(
        tmp_path / 'far.tif', np.ones((2, 8, 8), np.float32), 10.0, (toys.X0 + 5000, toys.Y0)
    )
    spec = SceneSpec(
        [ModalityInput('hr', channels=3), ModalityInput('s1', channels=2, scale=0.125)]
    )
    with pytest.raises(RasterError, match=re.escape(other_crs) + ': CRS EPSG:32632 differs'):
        SceneInputs.open(spec, dict(hr=hr, s1=other_crs))
    with pytest.raises(RasterError, match='the inputs do not overlap'):
        SceneInputs.open(spec, dict(hr=hr, s1=far))
    with pytest.raises(
        RasterError, match=re.escape(hr) + ': has 3 bands per date, expected at least 4'
    ):
        SceneInputs.open(SceneSpec([ModalityInput('hr', bands=[1, 4])]), dict(hr=hr))
    with pytest.raises(ValueError, match="no file for the input 'hr'"):
        SceneInputs.open(spec, dict(s1=far))  # the reference may not be left out


def test_an_input_left_out_is_masked(tmp_path):
    """A modality other than the reference given no file: zeros, no valid pixel, no real
    date (masked by the multi-modal adapter, as a sample lacking it in training)."""
    hr = toys.hr_scene(tmp_path / 'hr.tif', size=64)
    spec = SceneSpec(
        [ModalityInput('hr', channels=3), ModalityInput('s1', channels=2, num_dates=3, scale=0.125)]
    )
    with SceneInputs.open(spec, dict(hr=hr)) as scene:
        assert scene.missing == ['s1']
        batch = scene.read([TileGrid(64, 64, 32, 0).tile_at(0, 0)])
    assert batch.inputs['s1'].shape == (1, 3, 2, 4, 4) and not batch.inputs['s1'].any()
    assert not batch.valid['s1'].any() and not batch.date_mask['s1'].any()
    unknown = SceneSpec([ModalityInput('hr', channels=3), ModalityInput('s1', scale=0.125)])
    with pytest.raises(ValueError, match='no channels stated to mask it'):
        SceneInputs.open(unknown, dict(hr=hr))
