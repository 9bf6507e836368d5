"""Bands by name, series in date order and the scale guard of scene inference (issue 28).

A pixel-wise Sentinel-2 change detector (ten bands, as the OSCD model) run through both change
tools on the same scene stored as the ten ordered bands, as a 13-band L1C and a 12-band L2A
product (SAFE order) and with its bands shuffled under their descriptions: one change map.
"""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from helpers.change_toys import pixelwise_change_detector
from helpers.geotiff import write_geotiff
from helpers.modules import REPO, load_module

from mmskysense.apis.scene import ModalityInput, SceneInputs, SceneSpec
from mmskysense.datasets.raster import GeoSampleError
from mmskysense.datasets.tiling import TileGrid
from mmskysense.utils import register_all_modules

register_all_modules()
large = load_module('infer_large_scene', REPO / 'tools' / 'infer_large_scene.py')
alias = load_module('infer_change_map', REPO / 'tools' / 'infer_change_map.py')

# SAFE order of an L1C product, written out here (not taken from the code under test)
L1C = ['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B10', 'B11', 'B12']
TEN = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12']
SIZE = 40


def _change_model(tmp_path):
    # each S2 band has its own weights: a band read in another slot changes the map
    cfg, model = pixelwise_change_detector(
        10, 1500.0, 700.0, modality='s2', test_pipeline=[dict(type='LoadImagePair', num_bands=10)]
    )
    config, ckpt = tmp_path / 'cd.py', tmp_path / 'cd.pth'
    cfg.dump(str(config))
    meta = dict(dataset_meta=dict(classes=['unchanged', 'changed']))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), ckpt)
    return str(config), str(ckpt)


def _write(path, data, names=None, tags=None):
    write_geotiff(path, data, 10.0, nodata=0, tags=tags)
    if names:
        with rasterio.open(path, 'r+') as dst:
            for i, name in enumerate(names, 1):
                dst.set_band_description(i, name)
    return str(path)


def _products(folder: Path, seed=0):
    """Per date, the 13 L1C bands by name (DN, uint16), with planted change on date 2."""
    rng = np.random.default_rng(seed)
    d1 = {b: rng.integers(200, 4000, (SIZE, SIZE)).astype(np.uint16) for b in L1C}
    d2 = {b: v.copy() for b, v in d1.items()}
    for b in L1C:
        d2[b][10:25, 5:30] = rng.integers(200, 4000, (15, 25))
    return d1, d2


def _stack(date, names):
    return np.stack([date[b] for b in names])


def _run(tool, config, ckpt, inputs, out, *extra):
    tool.main([config, ckpt, *inputs, str(out), '--tile', '512', '--no-preview', '--quiet', *extra])
    with rasterio.open(out) as src:
        return src.read(1)


@pytest.fixture(scope='module')
def scene(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('bands')
    config, ckpt = _change_model(tmp)
    d1, d2 = _products(tmp)
    files = {}
    # the ten bands in the model's order, unnamed: the reference
    files['ten'] = [_write(tmp / f'ten{t}.tif', _stack(d, TEN)) for t, d in ((1, d1), (2, d2))]
    l2a = [b for b in L1C if b != 'B10']
    files['l1c'] = [_write(tmp / f'l1c{t}.tif', _stack(d, L1C)) for t, d in ((1, d1), (2, d2))]
    files['l2a'] = [_write(tmp / f'l2a{t}.tif', _stack(d, l2a)) for t, d in ((1, d1), (2, d2))]
    shuffled = [L1C[i] for i in np.random.default_rng(5).permutation(len(L1C))]
    files['shuffled'] = [
        _write(tmp / f'shuf{t}.tif', _stack(d, shuffled), shuffled) for t, d in ((1, d1), (2, d2))
    ]
    no_8a = [b for b in L1C if b != 'B8A']
    files['no_8a'] = [
        _write(tmp / f'no8a{t}.tif', _stack(d, no_8a), no_8a) for t, d in ((1, d1), (2, d2))
    ]
    reference = _run(large, config, ckpt, files['ten'], tmp / 'ten.tif')
    return tmp, config, ckpt, files, reference


def test_a_13_band_l1c_file_without_band_names_is_refused_by_both_tools(scene, capsys):
    """Today infer_large_scene.py reads B01-B09 of it without a word."""
    tmp, config, ckpt, files, _ = scene
    for n, tool in enumerate((large, alias)):
        with pytest.raises(SystemExit) as err:
            _run(tool, config, ckpt, files['l1c'], tmp / f'out_refused{n}.tif')
        message = str(err.value)
        assert 'has 13 bands and no band names' in message
        assert all(b in message for b in TEN) and '--band-preset' in message
        assert not (tmp / f'out_refused{n}.tif').exists()


def test_l1c_and_l2a_products_by_preset_give_the_ordered_files_map(scene, capsys):
    tmp, config, ckpt, files, reference = scene
    valid = reference != 255
    assert valid.mean() > 0.9 and set(np.unique(reference[valid])) == {0, 1}
    # the first ten bands of the L1C file (B01-B09, B8A in the B08 slot): another map, so the
    # equalities below cannot hold by chance
    wrong = _run(
        large, config, ckpt, files['l1c'], tmp / 'wrong.tif', '--bands', '1,2,3,4,5,6,7,8,9,10'
    )
    assert (wrong != reference).sum() > 20
    for n, tool in enumerate((large, alias)):
        l1c = _run(
            tool, config, ckpt, files['l1c'], tmp / f'out_l1c{n}.tif', '--band-preset', 's2-l1c'
        )
        np.testing.assert_array_equal(l1c, reference)
        l2a = _run(
            tool, config, ckpt, files['l2a'], tmp / f'out_l2a{n}.tif', '--band-preset', 's2-l2a'
        )
        np.testing.assert_array_equal(l2a, reference)
    printed = capsys.readouterr().out
    # the mapping used is printed: B02 is band 2 of L1C, B11 its band 12 (after B10)
    assert '2->B02 (492.4 nm)' in printed and '12->B11' in printed and 'preset s2-l1c' in printed


def test_shuffled_bands_are_read_by_their_descriptions(scene, capsys):
    tmp, config, ckpt, files, reference = scene
    for n, tool in enumerate((large, alias)):
        out = _run(tool, config, ckpt, files['shuffled'], tmp / f'out_shuffled{n}.tif')
        np.testing.assert_array_equal(out, reference)
    assert 'band descriptions' in capsys.readouterr().out


def test_a_missing_band_is_an_error_naming_it(scene):
    tmp, config, ckpt, files, _ = scene
    with pytest.raises(SystemExit) as err:
        _run(alias, config, ckpt, files['no_8a'], tmp / 'no8a.tif')
    assert 'lacks the band(s) B8A' in str(err.value)
    assert not (tmp / 'no8a.tif').exists()
    # a preset of the wrong count names the file and the counts the preset has
    with pytest.raises(SystemExit, match=r'has 13 bands; the band preset .s2-l2a. has 12'):
        _run(large, config, ckpt, files['l1c'], tmp / 'count.tif', '--band-preset', 's2-l2a')


def test_names_from_stac_eo_bands_and_other_sensors():
    """The function a STAC reader calls with an item's ``eo:bands``; a Landsat band is matched
    by its common name, never by a number that means another band on Sentinel-2."""
    from mmskysense.datasets.raster import match_bands, resolve_bands

    eo = [
        dict(name='B4', common_name='red', center_wavelength=0.665),
        dict(name='B2', common_name='blue', center_wavelength=0.490),
        dict(name='B3', common_name='green', center_wavelength=0.560),
    ]
    assert match_bands(['B02', 'B03', 'B04'], eo, 'item.json', family='s2') == [2, 3, 1]
    oli = ['B1', 'B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8', 'B9']
    oli_eo = [
        dict(name=n, common_name=c)
        for n, c in zip(oli, 'coastal blue green red nir08 swir16 swir22 pan cirrus'.split())
    ]
    # Landsat B5 (nir08) is Sentinel-2's B8A, not its B05; B6 / B7 its B11 / B12
    assert match_bands(['B8A', 'B11', 'B12', 'B04'], oli_eo, 'lc08', family='s2') == [5, 6, 7, 4]
    with pytest.raises(GeoSampleError, match=r'lacks the band\(s\) B05'):
        match_bands(['B04', 'B05'], oli_eo, 'lc08', family='s2')
    bands, how = resolve_bands(9, TEN[:3], 's2', preset='landsat8-oli', where='lc08.tif')
    assert (bands, how) == ([2, 3, 4], 'preset landsat8-oli')
    # PlanetScope 4-band analytic is Blue, Green, Red, NIR; NAIP Red, Green, Blue, NIR
    rgb = ['R', 'G', 'B']
    assert resolve_bands(4, rgb, 'hr', preset='planet-psscene')[0] == [3, 2, 1]
    assert resolve_bands(8, rgb, 'hr', preset='planet-psscene')[0] == [6, 4, 2]
    assert resolve_bands(4, rgb, 'hr', preset='naip')[0] == [1, 2, 3]


def test_config_positions_apply_only_to_files_of_their_layout():
    """Dyna.-S2's positions [2..9, 11, 12] index its 12-band L2A files: a 12-band file is read
    there, a 13-band L1C file (where 11 is cirrus, B10) is refused, not read in the B11 slot."""
    from mmskysense.datasets.raster import resolve_bands

    positions = [2, 3, 4, 5, 6, 7, 8, 9, 11, 12]
    bands, how = resolve_bands(12, TEN, 's2', positions, where='l2a.tif')
    assert bands == positions and 's2-l2a' in how
    with pytest.raises(GeoSampleError, match=r'l1c.tif: has 13 bands .* index 12-band files'):
        resolve_bands(13, TEN, 's2', positions, where='l1c.tif')
    # the same file with its preset: B11 is its band 12, B12 its band 13
    assert resolve_bands(13, TEN, 's2', positions, preset='s2-l1c')[0][-2:] == [12, 13]


def test_a_multi_date_l1c_file_by_preset(tmp_path):
    """A date-major stack of two 13-band L1C dates, its ACQUISITION_DATES out of order: each
    date's ten bands by name, the dates in order."""
    later, earlier = (np.full((13, 8, 8), v, np.uint16) for v in (2000, 1000))
    for data in (later, earlier):
        data += np.arange(13, dtype=np.uint16)[:, None, None]  # each band its own value
    stack = _write(
        tmp_path / 'stack.tif',
        np.concatenate([later, earlier]),
        tags=dict(ACQUISITION_DATES='2021-09-01,2021-06-01'),
    )
    spec = SceneSpec([ModalityInput('s2', channels=10, num_dates=2)])
    with SceneInputs.open(spec, {'s2': [stack]}, band_presets={'s2': 's2-l1c'}) as scene:
        assert [f.date.isoformat() for f in scene.frames['s2']] == ['2021-06-01', '2021-09-01']
        batch = scene.read([TileGrid(8, 8, 8, 0).tile_at(0, 0)])
    # L1C positions of B02-B08, B8A, B11, B12 (0-based 1..8, 11, 12), earlier date first
    offsets = [1, 2, 3, 4, 5, 6, 7, 8, 11, 12]
    expected = [[base + o for o in offsets] for base in (1000, 2000)]
    assert batch.inputs['s2'][0, :, :, 0, 0].tolist() == expected


def _series(folder: Path, names):
    paths = []
    for n, name in enumerate(names):
        data = np.full((10, 16, 16), 100 * (n + 1), np.uint16)
        paths.append(_write(folder / name, data))
    return paths


def test_a_series_is_read_in_date_order_whatever_the_order_of_the_paths(tmp_path):
    """As a glob gives them: S2A_ products before S2B_ ones. A 3-date model keeping the last
    dates gets 08-05, 08-15, 08-30 (today: 08-15, 07-01, 08-30 in the order given)."""
    names = [
        'S2A_MSIL2A_20210805T100031.tif',
        'S2A_MSIL2A_20210815T100031.tif',
        'S2B_MSIL2A_20210701T100029.tif',
        'S2B_MSIL2A_20210830T100029.tif',
    ]
    paths = _series(tmp_path, names)
    spec = SceneSpec([ModalityInput('s2', channels=10, num_dates=3, select='last')])
    with SceneInputs.open(spec, {'s2': paths}) as scene:
        used = [Path(f.path).name for f in scene.frames['s2']]
        assert used == [names[0], names[1], names[3]]
        batch = scene.read([TileGrid(16, 16, 16, 0).tile_at(0, 0)])
        printed = '\n'.join(scene.describe())
    # the values of each date, in that order (each file holds 100 x its position in `names`)
    assert batch.inputs['s2'][0, :, 0, 0, 0].tolist() == [100, 200, 400]
    assert batch.doy['s2'].tolist() == [217, 227, 242]
    assert '2021-08-05, 2021-08-15, 2021-08-30' in printed
    # a dateless file among dated ones: the series cannot be ordered
    dateless = _series(tmp_path, ['scene.tif'])
    with pytest.raises(GeoSampleError, match='scene.tif: carries no acquisition date'):
        SceneInputs.open(spec, {'s2': paths + dateless})


def test_reflectance_given_to_a_model_of_digital_numbers_is_warned(scene, tmp_path):
    """The issue's case: reflectance 0-0.53 into a model normalised for DN (mean 1500): the
    run goes on, with a warning that gives the factor."""
    _, config, ckpt, files, _ = scene
    reflectance = []
    for n, path in enumerate(files['ten']):
        with rasterio.open(path) as src:
            data = src.read().astype(np.float32) * 1e-4 * 0.53 / 0.4  # 0.01-0.53
        reflectance.append(_write(tmp_path / f'refl{n}.tif', data))
    with pytest.warns(UserWarning, match=r'about (\d+) times smaller than those the model') as rec:
        _run(large, config, ckpt, reflectance, tmp_path / 'refl.tif')
    factor = float(
        next(str(w.message) for w in rec if 'times smaller' in str(w.message))
        .split('about ')[1]
        .split(' ')[0]
    )
    assert 5000 < factor < 20000
    # digital numbers: no warning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)
        from mmskysense.apis.scene import check_value_scale

        spec = SceneSpec(
            [ModalityInput('s2', channels=10, value_stats=([1500.0] * 10, [700.0] * 10))]
        )
        with SceneInputs.open(spec, {'s2': files['ten'][0]}) as s:
            batch = s.read([TileGrid(SIZE, SIZE, SIZE, 0).tile_at(0, 0)])
            assert check_value_scale(spec, batch) == []
