"""Rasters over HTTP and STAC items as inputs, against a Range-capable server the tests start on
127.0.0.1 (tests/helpers/http_range.py), which counts the bytes it sends: a window read over
HTTP equals the local read and fetches a small part of the file; the scene CLI gives the same
output for a served COG as for the local file, and for a STAC item of one-band assets as for
the equivalent multi-band file; several items are a series in datetime order."""

import datetime
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers.http_range import RangeServer
from helpers.modules import REPO, load_module
from rasterio.transform import from_origin

from mmskysense.apis.scene import ModalityInput, SceneInputs, SceneSpec
from mmskysense.apis.scene.stac import expand_stac_inputs, item_bands
from mmskysense.datasets.raster import (
    GeoSampleError,
    MissingRasterError,
    RemoteOptions,
    match_bands,
    open_raster,
    raster_exists,
    read_raster,
    read_window,
)
from mmskysense.datasets.tiling import TileGrid

toys = load_module('scene_toys', Path(__file__).with_name('scene_toys.py'))
cli = load_module('infer_large_scene', REPO / 'tools' / 'infer_large_scene.py')
X0, Y0 = toys.X0, toys.Y0


def write_cog(path, data, res=0.5, nodata=None, block=128, origin=(X0, Y0)):
    """A tiled cloud-optimised GeoTIFF (rasterio's COG driver), no overviews."""
    count, h, w = data.shape
    profile = dict(
        driver='COG', height=h, width=w, count=count, dtype=data.dtype, crs=toys.CRS,
        transform=from_origin(*origin, res, res), nodata=nodata, blocksize=block,
        overviews='NONE', compress='DEFLATE',
    )  # fmt: skip
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(data)
    return str(path)


@pytest.fixture
def served(tmp_path):
    with RangeServer(tmp_path) as server:
        yield server


def test_window_over_http_equals_local_and_fetches_a_small_part(tmp_path, served):
    # random bytes do not compress: each of the 16 tiles of 128 x 128 px is 1/16 of the file
    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, (3, 512, 512), dtype=np.uint8)
    path = write_cog(tmp_path / 'scene.tif', data, nodata=0)
    size = Path(path).stat().st_size
    rows, cols = (200, 240), (300, 340)  # inside one tile
    with open_raster(path) as src:
        ref, ref_ok = read_window(src, [3, 1], rows, cols)
    # a second name: GDAL caches what it fetched of a URL for the process (/vsicurl/'s cache)
    Path(tmp_path / 'copy.tif').write_bytes(Path(path).read_bytes())
    for url in (served.url('scene.tif'), '/vsicurl/' + served.url('copy.tif')):
        served.reset()
        with RemoteOptions().env(), open_raster(url) as src:
            got, ok = read_window(src, [3, 1], rows, cols)
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(ok, ref_ok)
        assert (got == data[[2, 0], 200:240, 300:340]).all()
        # the header (GDAL's first 16 KiB chunk) and the one tile, each rounded up to GDAL's
        # 16 KiB chunks: well under two tiles' worth, 1/8 of the file
        assert 0 < served.bytes_sent < size / 8, (served.bytes_sent, size)
        assert any(r and r.startswith('bytes=') for _, r in served.requests)
    # the downstream whole-file read of a URL is the local read
    np.testing.assert_array_equal(read_raster(served.url('scene.tif'), [2]), read_raster(path, [2]))
    assert raster_exists(served.url('scene.tif')) and not raster_exists(served.url('nope.tif'))


def test_unreachable_urls_name_the_url_and_the_status(tmp_path, served):
    missing = served.url('nope.tif')
    with pytest.raises(MissingRasterError, match=rf'^{missing}: does not exist .*HTTP 404'):
        open_raster(missing)
    counts = []
    for retries in (0, 2):
        broken = served.url(f'status/503/scene{retries}.tif')  # GDAL caches a failed URL
        served.reset()
        with RemoteOptions(max_retry=retries, retry_delay=0.01).env():
            with pytest.raises(GeoSampleError, match=rf'^{broken}: cannot be opened: .*HTTP 503'):
                open_raster(broken, expected='the input scene')
        counts.append(len(served.requests))
    assert counts[1] > counts[0]  # GDAL_HTTP_MAX_RETRY was applied: 503 is retried
    dead = 'http://127.0.0.1:9/x.tif'  # the discard port: nothing listens
    with pytest.raises(GeoSampleError, match=rf'^{dead}: cannot be opened: the server cannot be'):
        with RemoteOptions(max_retry=0).env():
            open_raster(dead)


@pytest.fixture(scope='module')
def demo_checkpoint(tmp_path_factory):
    return toys.demo_checkpoint(tmp_path_factory.mktemp('ckpt') / 'seg.pth')


def _run_demo(config, checkpoint, inputs, out, extra=()):
    argv = [str(config), checkpoint, *map(str, inputs), str(out), '--tile', '128']
    cli.main([*argv, '--overlap', '32', '--no-preview', '--quiet', *extra,
              '--cfg-options', 'model.backbone.init_cfg=None'])  # fmt: skip
    with rasterio.open(out) as dst:
        return dst.read(), dst.transform, dst.crs


def _rgb(size=256, seed=3):
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 255, (3, size, size), dtype=np.uint8)
    data[:, :40, :40] = 0  # no data in a corner
    return data


def test_scene_cli_on_a_served_cog_equals_the_local_file(tmp_path, served, demo_checkpoint):
    path = write_cog(tmp_path / 'scene.tif', _rgb(), nodata=0)
    local = _run_demo(toys.DEMO_CONFIG, demo_checkpoint, [path], tmp_path / 'local.tif')
    served.reset()
    remote = _run_demo(
        toys.DEMO_CONFIG, demo_checkpoint, [served.url('scene.tif')], tmp_path / 'remote.tif',
        ['--confidence', '--http-retries', '1', '--gdal-cache-mb', '8'],
    )  # fmt: skip
    np.testing.assert_array_equal(remote[0][:1], local[0])
    assert remote[1:] == local[1:]
    assert (local[0][0, :40, :40] == 255).all() and (local[0][0, 40:] != 255).all()
    # every tile read once, neighbours' shared blocks from GDAL's caches
    assert served.bytes_sent < 2 * Path(path).stat().st_size


def _stac_item(folder: Path, item_id: str, day: str, layers, names, common, version='1.0.0'):
    """A STAC item of one one-band COG asset per layer, a 3-band 'visual' composite carrying
    the same band names, and a PNG thumbnail; band metadata as ``eo:bands`` (1.0) or
    ``bands`` (1.1)."""
    assets = {}
    for key, name, layer in zip(common, names, layers):
        href = f'{item_id}_{name}.tif'
        write_cog(folder / href, layer[None], nodata=0)
        band = dict(name=name, common_name=key)
        if version == '1.0.0':
            extra = {'eo:bands': [band]}
        else:
            extra = dict(bands=[dict(name=name, **{'eo:common_name': key})])
        # keyed by common name, by band name where several share one (S2's three 'rededge')
        assets[key if common.count(key) == 1 else name] = dict(
            href=href, type='image/tiff; application=geotiff', roles=['data'], **extra
        )
    write_cog(folder / f'{item_id}_visual.tif', (np.stack(layers) // 2).astype(np.uint8))
    bands = [dict(name=n, common_name=c) for n, c in zip(names, common)]
    assets['visual'] = {'href': f'{item_id}_visual.tif', 'type': 'image/tiff', 'eo:bands': bands}
    assets['thumbnail'] = dict(href=f'{item_id}.png', type='image/png', roles=['thumbnail'])
    item = dict(
        type='Feature', stac_version=version, id=item_id,
        stac_extensions=['https://stac-extensions.github.io/eo/v1.1.0/schema.json'],
        geometry=None, properties=dict(datetime=f'{day}T10:30:00Z'), links=[], assets=assets,
    )  # fmt: skip
    path = folder / f'{item_id}.json'
    path.write_text(json.dumps(item))
    return path


def test_stac_item_of_band_assets_equals_the_multiband_file(tmp_path, served, demo_checkpoint):
    rgb = _rgb()
    multi = write_cog(tmp_path / 'rgb.tif', rgb, nodata=0)
    # the assets in another order than the model's: picked by name, not position
    order = [2, 0, 1]
    _stac_item(
        tmp_path, 'S2X_20210805', '2021-08-05', [rgb[i] for i in order],
        [('B04', 'B03', 'B02')[i] for i in order], [('red', 'green', 'blue')[i] for i in order],
    )  # fmt: skip
    local = _run_demo(toys.DEMO_CONFIG, demo_checkpoint, [multi], tmp_path / 'local.tif')
    sizes = sum(p.stat().st_size for p in tmp_path.glob('S2X_20210805_B0*.tif'))
    for bands in ('red,green,blue', 'B04,B03,b02'):
        served.reset()
        stac = _run_demo(
            toys.DEMO_CONFIG, demo_checkpoint, [served.url('S2X_20210805.json')],
            tmp_path / 'stac.tif', ['--stac-bands', bands],
        )  # fmt: skip
        np.testing.assert_array_equal(stac[0], local[0])
        assert stac[1:] == local[1:]
        # only the three band assets' bytes (once each, about), never the composite
        assert 'S2X_20210805_visual.tif' not in served.bytes_by_file
        assert served.bytes_sent < 2 * sizes
    with pytest.raises(SystemExit, match=r"S2X_20210805.json \(item 'S2X_20210805'\): lacks "
                       r"the band\(s\) N\b.*the file has B02, B04, B03"):  # fmt: skip
        _run_demo(toys.DEMO_CONFIG, demo_checkpoint, [tmp_path / 'S2X_20210805.json'],
                  tmp_path / 'x.tif', ['--stac-bands', 'red,green,nir'])  # fmt: skip
    assert not (tmp_path / 'x.tif').exists()


def test_stac_bands_of_stac_1_1_and_the_name_match(tmp_path):
    import pystac

    layers = [np.full((32, 32), v, np.uint16) for v in (1, 2)]
    path = _stac_item(tmp_path, 'it', '2020-01-01', layers, ['B08', 'B8A'], ['nir', 'nir08'],
                      version='1.1.0')  # fmt: skip
    bands = item_bands(pystac.Item.from_file(str(path)), str(tmp_path))
    # the visual composite's bands carry the one-band assets' names: left out
    assert [(b.asset, b.name, b.common_name) for b in bands] == [
        ('nir', 'B08', 'nir'),
        ('nir08', 'B8A', 'nir08'),
    ]
    listed = [dict(name=b.name, common_name=b.common_name) for b in bands]
    # the model's names, or common names: each matches its one band, in the model's order
    assert match_bands(['nir08', 'b08'], listed, 'x') == [2, 1]
    assert match_bands(['B8A', 'B08'], listed, 'x', family='s2') == [2, 1]
    # a name two bands answer to alike is an error, never a guess
    with pytest.raises(GeoSampleError, match='all match the band'):
        match_bands(['nir'], [dict(name='B08', common_name='nir')] * 2, 'x')


def test_stac_items_are_a_series_in_datetime_order(tmp_path, served):
    days = ['2021-08-30', '2021-08-05', '2021-08-15']  # as a glob by satellite gives them
    paths = []
    for n, day in enumerate(days):
        # each date's bands hold its day of month (and a second band its index), both > 0
        d = int(day[-2:])
        layers = [np.full((64, 64), d, np.uint16), np.full((64, 64), 100 + n, np.uint16)]
        p = _stac_item(tmp_path, f'S2{"ABA"[n]}_{day}', day, layers, ['B04', 'B08'],
                       ['red', 'nir'])  # fmt: skip
        paths.append(served.url(p.name))
    files, stac = expand_stac_inputs(dict(s2=paths), dict(s2=['nir', 'red']), str(tmp_path))
    ordered = sorted(days)
    assert [d.isoformat() for d in stac['s2'].dates] == ordered
    spec = SceneSpec([ModalityInput('s2', channels=2, num_dates=3, bands=[1, 2])])
    with SceneInputs.open(spec, files) as scene:
        batch = scene.read(list(TileGrid(scene.height, scene.width, 32, 0))[:1])
    x = batch.inputs['s2'][0]  # T x C x h x w
    assert [int(v) for v in x[:, 1, 0, 0]] == [int(d[-2:]) for d in ordered]  # red, by date
    assert [int(v) for v in x[:, 0, 0, 0]] == [100 + days.index(d) for d in ordered]  # nir
    doy = [datetime.date.fromisoformat(d).timetuple().tm_yday for d in ordered]
    assert batch.doy['s2'].tolist() == doy
    # one ItemCollection of the items (relative hrefs: against the collection's URL) is alike
    features = [json.loads((tmp_path / Path(u).name).read_text()) for u in paths]
    (tmp_path / 'coll').mkdir()
    (tmp_path / 'all.json').write_text(
        json.dumps(dict(type='FeatureCollection', features=features))
    )
    _, coll = expand_stac_inputs(dict(s2=[served.url('all.json')]), dict(s2=['nir', 'red']),
                                 str(tmp_path / 'coll'))  # fmt: skip
    assert coll['s2'].dates == stac['s2'].dates
    assert [[b.href for b in bs] for bs in coll['s2'].bands] == [
        [b.href for b in bs] for bs in stac['s2'].bands
    ]
    with pytest.raises(MissingRasterError, match=r'nope.json: does not exist .*HTTP 404'):
        expand_stac_inputs(dict(s2=[served.url('nope.json')]), dict(s2=['red']), str(tmp_path))
    with pytest.raises(ValueError, match='mixes STAC items and rasters'):
        expand_stac_inputs(dict(s2=[paths[0], 'x.tif']), dict(s2=['red']), str(tmp_path))


def test_the_sample_index_of_served_sample_folders(tmp_path, served):
    """The pretraining index of sample folders behind a URL (named: a URL cannot be listed)
    is the local folders' index with the files' URLs, and its samples read as the local ones."""
    from mmskysense.datasets.geo import build_geo_index, load_geo_index
    from mmskysense.datasets.geo.synthetic import generate_sample
    from mmskysense.datasets.raster import GroundWindowReader

    rng = np.random.default_rng(0)
    generate_sample(str(tmp_path / 'samples' / 's0'), rng, hr_size=64, num_s2_dates=2,
                    num_s1_dates=2, s2_layout='multi_date', hr_overviews=False)  # fmt: skip
    local = build_geo_index(str(tmp_path / 'samples'), str(tmp_path / 'local.json'))
    root = served.url('samples')
    with pytest.raises(GeoSampleError, match='cannot be listed'):
        build_geo_index(root, str(tmp_path / 'remote.json'))
    remote = build_geo_index(root, str(tmp_path / 'remote.json'), sample_dirs=['s0'])
    (a,), (b,) = local['data_list'], remote['data_list']
    for name in ('hr', 's2', 's1', 'osm'):
        frames_a = a[name] if isinstance(a[name], list) else [a[name]]
        frames_b = b[name] if isinstance(b[name], list) else [b[name]]
        for fa, fb in zip(frames_a, frames_b, strict=True):
            assert fb['path'] == f'{root}/s0/{Path(fa["path"]).name}'
            assert {k: v for k, v in fa.items() if k != 'path'} == {
                k: v for k, v in fb.items() if k != 'path'
            }
    assert {k: v for k, v in a.items() if k not in ('hr', 's2', 's1', 'osm')} == {
        k: v for k, v in b.items() if k not in ('hr', 's2', 's1', 'osm')
    }
    (ea,), (eb,) = (
        load_geo_index(str(tmp_path / 'local.json')),
        load_geo_index(str(tmp_path / 'remote.json')),
    )
    reader = GroundWindowReader()
    box = tuple(ea['bounds'])
    for key in ('hr', 's2'):
        fa, fb = (ea[key] if key == 'hr' else ea[key][1]), (eb[key] if key == 'hr' else eb[key][1])
        assert fb['path'].startswith('http://127.0.0.1:')
        va = reader.read_image(fa['path'], fa['bands'], box, (16, 16))
        vb = reader.read_image(fb['path'], fb['bands'], box, (16, 16))
        np.testing.assert_array_equal(va[0], vb[0])
        np.testing.assert_array_equal(va[1], vb[1])


def test_a_downstream_loader_reads_a_url_as_the_local_file(tmp_path, served):
    from mmskysense.datasets.transforms.loading import LoadMultiBandImage

    data = np.random.default_rng(5).integers(1, 4000, (4, 64, 64), dtype=np.uint16)
    path = write_cog(tmp_path / 'img.tif', data, res=10.0, block=32)
    load = LoadMultiBandImage(bands=[4, 2], to_float32=False)
    remote = load(dict(img_path=served.url('img.tif')))['img']
    np.testing.assert_array_equal(remote, load(dict(img_path=path))['img'])
    np.testing.assert_array_equal(remote, data[[3, 1]].transpose(1, 2, 0))


def test_stac_assets_on_two_grids_make_one_on_the_finest(tmp_path):
    """A 10 m band and a 20 m band (Sentinel-2's B04, B11): the VRT is on the 10 m grid over
    the ground both cover; the 10 m band is read as stored, the 20 m one interpolated (a
    constant stays that constant)."""
    b04 = np.random.default_rng(2).integers(1, 3000, (1, 64, 64), dtype=np.uint16)
    write_cog(tmp_path / 'B04.tif', b04, res=10.0, block=32)
    # the 20 m band starts 20 m east: the shared ground is 620 x 640 m
    write_cog(tmp_path / 'B11.tif', np.full((1, 32, 32), 777, np.uint16), res=20.0, block=32,
              origin=(X0 + 20, Y0))  # fmt: skip
    item = dict(
        type='Feature', stac_version='1.0.0', id='two', geometry=None, links=[],
        properties=dict(datetime='2021-05-01T00:00:00Z'),
        assets={k: {'href': f'{k}.tif', 'type': 'image/tiff', 'eo:bands': [dict(name=k)]}
                for k in ('B04', 'B11')},
    )  # fmt: skip
    (tmp_path / 'two.json').write_text(json.dumps(item))
    files, _ = expand_stac_inputs(
        dict(s2=[str(tmp_path / 'two.json')]), dict(s2=['B11', 'B04']), str(tmp_path)
    )
    with rasterio.open(files['s2'][0]) as vrt:
        assert (vrt.width, vrt.height, vrt.res) == (62, 64, (10.0, 10.0))
        assert (vrt.transform.c, vrt.transform.f) == (X0 + 20, Y0)
        assert vrt.descriptions == ('B11', 'B04')
        assert vrt.tags()['ACQUISITION_DATE'] == '2021-05-01'
        got = vrt.read()
    assert (got[0] == 777).all()
    np.testing.assert_array_equal(got[1], b04[0, :, 2:])


def test_remote_options_as_gdal_options_and_environment(monkeypatch):
    opts = RemoteOptions(max_retry=5, retry_delay=0.5, timeout=30, cache_mb=64,
                         allowed_extensions=('.tif', '.TIF'))  # fmt: skip
    assert opts.gdal_options() == dict(
        GDAL_HTTP_MAX_RETRY='5', GDAL_HTTP_RETRY_DELAY='0.5', VSI_CACHE='TRUE',
        VSI_CACHE_SIZE=str(25 * 2**20), GDAL_DISABLE_READDIR_ON_OPEN='EMPTY_DIR',
        GDAL_HTTP_TIMEOUT='30', GDAL_CACHEMAX=64 * 2**20,
        CPL_VSIL_CURL_ALLOWED_EXTENSIONS='.tif,.TIF',
    )  # fmt: skip
    import os

    # a stand-in environment: the process's own is left as it was
    monkeypatch.setattr(os, 'environ', {'GDAL_HTTP_MAX_RETRY': '9'})  # the user's setting wins
    opts.apply()
    assert os.environ['GDAL_HTTP_MAX_RETRY'] == '9'
    assert os.environ['GDAL_CACHEMAX'] == str(64 * 2**20)
    with pytest.raises(ValueError, match='readdir'):
        RemoteOptions(readdir='NO')


def test_a_multiband_asset_without_band_names_is_refused(tmp_path):
    write_cog(tmp_path / 'tci.tif', np.ones((3, 32, 32), np.uint8), res=10.0, block=32)
    item = dict(type='Feature', stac_version='1.0.0', id='tci', geometry=None, links=[],
                properties=dict(datetime='2021-05-01T00:00:00Z'),
                assets=dict(visual={'href': 'tci.tif', 'type': 'image/tiff'}))  # fmt: skip
    (tmp_path / 'tci.json').write_text(json.dumps(item))
    with pytest.raises(GeoSampleError, match=r'tci.tif: has 3 bands and the STAC item .* names '):
        expand_stac_inputs(
            dict(hr=[str(tmp_path / 'tci.json')]), dict(hr=['visual']), str(tmp_path)
        )


def test_stac_bands_default_to_the_models_band_names(tmp_path):
    """Without --stac-bands an S2 input takes the model's ten bands from a 12-band L2A item, by
    name, in the model's order (not the item's)."""
    import types

    l2a = [('B01', 'coastal'), ('B02', 'blue'), ('B03', 'green'), ('B04', 'red'),
           ('B05', 'rededge'), ('B06', 'rededge'), ('B07', 'rededge'), ('B08', 'nir'),
           ('B8A', 'nir08'), ('B09', 'nir09'), ('B11', 'swir16'), ('B12', 'swir22')]  # fmt: skip
    value = {name: 10 + i for i, (name, _) in enumerate(l2a)}
    shuffled = [l2a[i] for i in (7, 0, 11, 3, 9, 1, 5, 10, 2, 8, 4, 6)]
    _stac_item(
        tmp_path, 'S2B_20210805', '2021-08-05',
        [np.full((32, 32), value[n], np.uint16) for n, _ in shuffled],
        [n for n, _ in shuffled], [c for _, c in shuffled],
    )  # fmt: skip
    spec = SceneSpec([ModalityInput('s2', channels=10)])
    names = cli.stac_band_names(types.SimpleNamespace(stac_bands=[]), spec)
    ten = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12']
    # the modality table's names (B2 ... B12): matched to the item's B02 ... whatever zeros lead
    assert list(names) == ['s2'] and len(names['s2']) == 10
    files, _ = expand_stac_inputs(
        dict(s2=[str(tmp_path / 'S2B_20210805.json')]), names, str(tmp_path)
    )
    with rasterio.open(files['s2'][0]) as vrt:
        assert [int(vrt.read(b)[0, 0]) for b in range(1, 11)] == [value[n] for n in ten]
