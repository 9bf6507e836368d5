"""tools/infer_large_scene.py's products beside the class map (--vector, --embeddings,
--embeddings-raster, --confidence), its output checks before the model is loaded, and the
ground-sampling check (--gsd-tolerance, --strict-gsd, --resample-to-model-gsd), end to end
on a generated scene with the demo's tiny UperNet."""

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers.modules import REPO, load_module
from rasterio.transform import from_origin

toys = load_module('scene_toys', Path(__file__).with_name('scene_toys.py'))
cli = load_module('infer_large_scene', REPO / 'tools' / 'infer_large_scene.py')
CONFIG = toys.DEMO_CONFIG


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return toys.demo_checkpoint(tmp_path_factory.mktemp('ckpt') / 'seg.pth')


@pytest.fixture(scope='module')
def scene(tmp_path_factory):
    return toys.hr_scene(tmp_path_factory.mktemp('scene') / 'hr.tif', size=128, res=0.5)


class Recorder:
    """``load_model`` that records its calls (then ``init_model``)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, cfg, checkpoint, device):
        from mmskysense.apis import init_model

        self.calls += 1
        return init_model(cfg, checkpoint, device)


FAST = ['--tile', '64', '--overlap', '0', '--no-preview', '--quiet']
NO_INIT = ['--cfg-options', 'model.backbone.init_cfg=None']


def _run(checkpoint, scene, out, *options, load_model=None):
    argv = [str(CONFIG), checkpoint, scene, str(out), *FAST, *options, *NO_INIT]
    cli.main(argv, load_model=load_model)


def _crs_of_vector(path: Path):
    if path.suffix == '.gpkg':
        import pyogrio

        return rasterio.crs.CRS.from_user_input(pyogrio.read_info(str(path))['crs'])
    doc = json.loads(path.read_text())
    return rasterio.crs.CRS.from_user_input(doc['crs']['properties']['name'])


def test_vector_and_embeddings_in_the_scene_crs(tmp_path, checkpoint, scene):
    out, vec = tmp_path / 'classes.tif', tmp_path / 'polygons.gpkg'
    emb, emb_tif = tmp_path / 'tiles.geojson', tmp_path / 'tiles.tif'
    _run(
        checkpoint,
        scene,
        out,
        '--confidence',
        '--vector',
        str(vec),
        '--min-area',
        '0.5',
        '--embeddings',
        str(emb),
        '--embeddings-raster',
        str(emb_tif),
    )
    import pyogrio

    with rasterio.open(scene) as src, rasterio.open(out) as dst:
        crs = src.crs
        assert dst.crs == crs and dst.transform == src.transform and dst.count == 2
    meta, _, _, values = pyogrio.raw.read(str(vec))
    fields = list(meta['fields'])
    assert {'class_id', 'class', 'area', 'confidence'} <= set(fields)
    areas = values[fields.index('area')]
    assert len(areas) > 0 and (areas >= 0.5).all()
    assert _crs_of_vector(vec) == crs
    features = json.loads(emb.read_text())['features']
    assert len(features) == 4  # 2 x 2 tiles of 64 px
    assert _crs_of_vector(emb) == crs
    with rasterio.open(emb_tif) as e:
        assert e.crs == crs and e.shape == (2, 2)
        assert e.transform == from_origin(toys.X0, toys.Y0, 32.0, 32.0)
        assert e.count == len(features[0]['properties']['embedding'])
    assert not [p.name for p in tmp_path.iterdir() if 'partial' in p.name]


@pytest.mark.parametrize(
    'options, message',
    [
        (['--vector', 'x.shp'], 'x.shp'),
        (['--embeddings', 'x.csv'], 'x.csv'),
        (['--embeddings-raster', 'x.png'], 'x.png'),
        (['--embeddings-raster', 'OUT'], 'given for two outputs'),
        (['--embeddings-raster', 'SCENE'], 'overwrite an input'),
        (['--vector', 'x.gpkg', '--min-area', '-1'], '--min-area'),
    ],
)
def test_bad_output_paths_refused_before_the_model(tmp_path, checkpoint, scene, options, message):
    out = tmp_path / 'classes.tif'
    subst = dict(OUT=str(out), SCENE=scene)
    options = [subst.get(o, str(tmp_path / o) if o.startswith('x.') else o) for o in options]
    record = Recorder()
    with pytest.raises(SystemExit, match=message):
        _run(checkpoint, scene, out, *options, load_model=record)
    assert record.calls == 0
    assert list(tmp_path.iterdir()) == []


def test_gsd_warning_names_scene_and_both_pixel_sizes(tmp_path, checkpoint, scene):
    from mmskysense.apis.scene.gsd import GSDWarning

    out = tmp_path / 'classes.tif'
    with pytest.warns(GSDWarning) as caught:
        _run(checkpoint, scene, out, '--cfg-options', 'scene_gsd=2.0')
    msg = next(str(w.message) for w in caught if w.category is GSDWarning)
    assert scene in msg and '0.5 m' in msg and '2 m' in msg
    assert out.exists()
    # within the tolerance: no warning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter('error', GSDWarning)
        _run(checkpoint, scene, tmp_path / 'b.tif', '--gsd-tolerance', '5', '--cfg-options',
             'scene_gsd=2.0')  # fmt: skip


def test_strict_gsd_is_an_error_before_the_model(tmp_path, checkpoint, scene):
    record = Recorder()
    out = tmp_path / 'classes.tif'
    with pytest.raises(SystemExit, match=r'pixel size 0\.5 m.*trained at 2 m'):
        _run(checkpoint, scene, out, '--strict-gsd', '--cfg-options', 'scene_gsd=2.0',
             load_model=record)  # fmt: skip
    assert record.calls == 0 and not out.exists()


def test_resample_to_model_gsd_writes_on_the_model_grid(tmp_path, checkpoint, scene):
    out, emb_tif = tmp_path / 'classes.tif', tmp_path / 'tiles.tif'
    _run(
        checkpoint,
        scene,
        out,
        '--resample-to-model-gsd',
        '--embeddings-raster',
        str(emb_tif),
        '--cfg-options',
        'scene_gsd=1.0',
    )
    with rasterio.open(scene) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs
        assert dst.transform == from_origin(toys.X0, toys.Y0, 1.0, 1.0)
        assert dst.shape == (64, 64)
        classes = dst.read(1)
    # the hole of the scene (its first 16 x 16 px at 0.5 m) is 8 x 8 px at 1 m
    assert (classes[:8, :8] == 255).all() and (classes[8:, 8:] < 255).all()
    with rasterio.open(emb_tif) as e:
        assert e.shape == (1, 1) and e.transform == from_origin(toys.X0, toys.Y0, 64.0, 64.0)
    record = Recorder()
    with pytest.raises(SystemExit, match='scene_gsd'):
        _run(checkpoint, scene, tmp_path / 'c.tif', '--resample-to-model-gsd', load_model=record)
    assert record.calls == 0


def test_resampled_vrt_averages_on_the_anchored_grid(tmp_path):
    from mmskysense.apis.scene.gsd import resampled_vrt

    data = np.arange(1, 2 * 8 * 8 + 1, dtype=np.float32).reshape(2, 8, 8)
    path = toys.write_raster(tmp_path / 'a.tif', data, 0.5, (toys.X0 + 1, toys.Y0 - 1))
    vrt = resampled_vrt(path, 1.0, str(tmp_path), anchor=(toys.X0 + 0.5, toys.Y0))
    with rasterio.open(vrt) as v:
        # whole 1 m cells of the anchored grid inside the file (4 m x 4 m from 1 m east,
        # 1 m south): 4 rows, 3 columns from 1.5 m east
        assert v.transform == from_origin(toys.X0 + 1.5, toys.Y0 - 1, 1.0, 1.0)
        assert v.shape == (4, 3) and v.count == 2
        got = v.read()
    want = data[:, :, 1:7].reshape(2, 4, 2, 3, 2).mean((2, 4))
    np.testing.assert_allclose(got, want)
