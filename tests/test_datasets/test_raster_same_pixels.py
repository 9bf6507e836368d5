"""One ground-box reader (issue 27): a multi-modal training sample and the scene loop read the
same pixels for the same ground."""

import importlib.util
from pathlib import Path

import numpy as np

from mmskysense.apis.scene import ModalityInput, SceneInputs, SceneSpec
from mmskysense.datasets.tiling import TileGrid
from mmskysense.datasets.transforms.geo_multi_crop import GeoMultiCrop
from mmskysense.datasets.transforms.multimodal import LoadMultiModalImages

_spec = importlib.util.spec_from_file_location(
    'scene_toys', Path(__file__).resolve().parents[1] / 'test_apis' / 'scene_toys.py'
)
toys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toys)


def test_training_sample_and_scene_loop_read_the_same_pixels(tmp_path):
    # HR at 0.5 m; S2 at 10 m on a grid offset by a fraction of its pixel, with a nodata hole
    hr = toys.hr_scene(tmp_path / 'hr.tif', size=128, hole=False)
    rng = np.random.default_rng(0)
    s2_pixels = rng.uniform(0, 3000, (2, 12, 12)).astype(np.float32)
    s2_pixels[:, 3:5, 4:7] = np.nan
    s2 = toys.write_raster(tmp_path / 's2.tif', s2_pixels, 10.0, (toys.X0 - 23, toys.Y0 + 17))
    spec = SceneSpec(
        [ModalityInput('hr', bands=[1, 2, 3]), ModalityInput('s2', bands=[1, 2], scale=0.25)]
    )
    load = LoadMultiModalImages(
        dict(
            hr=dict(bands=[1, 2, 3], out_size=(64, 64)),
            s2=dict(bands=[1, 2], out_size=(16, 16)),
        )
    )
    with SceneInputs.open(spec, dict(hr=hr, s2=s2)) as scene:
        tiles = list(TileGrid(scene.height, scene.width, 64, 0))
        batch = scene.read(tiles)  # as run_tiles reads them
        boxes = [scene.tile_box(tile) for tile in tiles]
    assert not batch.valid['s2'].all()  # the hole is read
    for n, box in enumerate(boxes):
        sample = dict(
            img_path=f'tile {n}',
            modalities=dict(
                hr=dict(path=hr, window_bounds=box), s2=dict(path=s2, window_bounds=box)
            ),
        )
        out = load(sample)['mm_inputs']
        # the pretraining crop's view of the same box (scaling 1: stored values)
        crop = GeoMultiCrop(modalities=('hr',), scaling=dict(hr=dict(scale=1.0, offset=0.0)))
        view = crop._read_view(
            dict(crs=scene.crs_string, hr=dict(path=hr, bands=[1, 2, 3]), frames={}),
            crop._readers(),
            box,
            dict(hr=64),
            ('hr',),
        )
        np.testing.assert_array_equal(view['images']['hr'], out['hr'].transpose(2, 0, 1))
        np.testing.assert_array_equal(view['valid_masks']['hr'], batch.valid['hr'][n])
        for name in ('hr', 's2'):
            seen = batch.inputs[name][n].astype(np.float32)  # C x h x w, 0 where no data
            expected = np.where(batch.valid[name][n][None], seen, np.float32(0))
            train = out[name].transpose(2, 0, 1)
            assert train.dtype == np.float32 and train.shape == expected.shape
            np.testing.assert_array_equal(train, expected)
