"""The texture world of the synthetic generator (classes told apart by HR structure, colour,
spectrum and backscatter random per region) and the hue jitter that goes with it."""

from pathlib import Path

import numpy as np
import pytest
import rasterio

from mmskysense.datasets.geo.synthetic import (
    CLASSES,
    TEXTURE_CLASSES,
    _TextureWorld,
    generate_geo_dataset,
)
from mmskysense.datasets.transforms.photometric import (
    RandomHRChannelShuffle,
    RandomHRColorJitter,
    _rotate_hue,
)


def _world(seed=0, size=400.0):
    return _TextureWorld(np.random.default_rng(seed), (0.0, 0.0, size, size))


def test_regions_and_textures_are_functions_of_the_ground_point():
    world = _world()
    xs = np.arange(0, 400, 1.1)
    x, y = np.meshgrid(xs, xs[::-1])
    r = world.regions(x, y)
    # the same ground points evaluated alone, in another order, give the same regions and values
    pick = np.random.default_rng(1).choice(x.size, 500, replace=False)
    assert np.array_equal(world.regions(x.ravel()[pick], y.ravel()[pick]), r.ravel()[pick])
    t = world.texture(r, x, y)
    assert np.array_equal(
        world.texture(r.ravel()[pick], x.ravel()[pick], y.ravel()[pick]), t.ravel()[pick]
    )
    assert t.min() >= 0 and t.max() <= 1
    # regions are large, contiguous patches, every class present
    assert 10 <= len(np.unique(r)) <= 60
    assert set(np.unique(world.cls[np.unique(r)])) == set(range(len(TEXTURE_CLASSES)))


def test_structure_not_colour_tells_the_classes_apart():
    world = _world(size=1000.0)
    rng = np.random.default_rng(2)
    # grey-level structure per region: the smooth class has almost none, the others a lot
    energy, mean_colour, cls = [], [], []
    for reg in np.unique(
        world.regions(*np.meshgrid(np.arange(0, 1000, 4.0), np.arange(0, 1000, 4.0)))
    ):
        cx = world.x0 + (reg % world.shape[1] + world.seed_xy[reg, 0]) * world.cell
        cy = world.y0 + (reg // world.shape[1] + world.seed_xy[reg, 1]) * world.cell
        xs = cx + (np.arange(48) - 24) * 0.3125
        ys = cy + (np.arange(48) - 24) * 0.3125
        labels, rgb = world.render_hr(xs, ys[::-1], rng)
        if (labels != world.cls[reg]).mean() > 0.1:
            continue  # the patch around the seed crosses a border
        # 4 x 4 block means: pixel noise averages out, structure of metres does not
        grey = rgb.mean(0).reshape(12, 4, 12, 4).mean((1, 3))
        energy.append(np.abs(np.diff(grey, axis=1)).mean() + np.abs(np.diff(grey, axis=0)).mean())
        mean_colour.append(rgb.reshape(3, -1).mean(1))
        cls.append(world.cls[reg])
    energy, mean_colour, cls = np.array(energy), np.array(mean_colour), np.array(cls)
    smooth = TEXTURE_CLASSES.index('smooth_surface')
    assert len(cls) > 60
    assert energy[cls == smooth].max() < np.median(energy[cls != smooth]) / 3
    # the colours are drawn whatever the class: the nearest class mean colour (fitted on half the
    # regions) is no better than chance on the other half
    half = len(cls) // 2
    means = np.stack([mean_colour[:half][cls[:half] == c].mean(0) for c in range(5)])
    pred = np.linalg.norm(mean_colour[half:, None] - means[None], axis=-1).argmin(1)
    assert (pred == cls[half:]).mean() < 0.45


def test_texture_samples_keep_the_release_layout_and_label_their_classes(tmp_path):
    out = generate_geo_dataset(
        str(tmp_path / 'tex'),
        num_samples=2,
        seed=3,
        num_s2_dates=2,
        num_s1_dates=1,
        world='texture',
    )
    for sample in out['samples']:
        folder = sample['folder']
        with rasterio.open(f'{folder}/osm.tif') as src:
            osm = src.read(1)
            assert src.tags()['CLASSES'] == ','.join(TEXTURE_CLASSES)
        assert set(np.unique(osm)) <= set(range(len(TEXTURE_CLASSES))) | {255}
        with rasterio.open(f'{folder}/hr.tif') as src:
            assert src.count == 3 and src.nodata == 0
    colour = generate_geo_dataset(str(tmp_path / 'col'), num_samples=1, seed=3)
    with rasterio.open(f'{colour["samples"][0]["folder"]}/osm.tif') as src:
        assert src.tags()['CLASSES'] == ','.join(CLASSES)
    with pytest.raises(ValueError, match='world'):
        generate_geo_dataset(str(tmp_path / 'bad'), num_samples=1, world='stripes')


def test_osm_groups_merge_the_label_classes_and_leave_the_imagery_alone(tmp_path):
    kwargs = dict(num_samples=2, seed=4, num_s2_dates=1, num_s1_dates=1, world='texture')
    fine = generate_geo_dataset(str(tmp_path / 'fine'), **kwargs)
    coarse = generate_geo_dataset(
        str(tmp_path / 'coarse'), osm_groups=[[0, 3], [1, 2, 4]], **kwargs
    )
    lut = np.array([0, 1, 1, 0, 1])  # written out by hand: class -> group
    for f, c in zip(fine['samples'], coarse['samples']):
        rasters = sorted(
            p.relative_to(f['folder'])
            for p in Path(f['folder']).rglob('*.tif')
            if p.name != 'osm.tif'
        )
        assert {'hr.tif', 's1.tif'} <= {str(r) for r in rasters} and len(rasters) >= 3  # + s2/
        for name in rasters:
            with (
                rasterio.open(f'{f["folder"]}/{name}') as a,
                rasterio.open(f'{c["folder"]}/{name}') as b,
            ):
                assert np.array_equal(a.read(), b.read(), equal_nan=True)
        with (
            rasterio.open(f'{f["folder"]}/osm.tif') as a,
            rasterio.open(f'{c["folder"]}/osm.tif') as b,
        ):
            fine_osm, coarse_osm = a.read(1), b.read(1)
            assert b.tags()['CLASSES'] == (
                'crop_rows+field_mosaic,buildings+tree_crowns+smooth_surface'
            )
        labelled = fine_osm != 255
        assert labelled.any() and np.array_equal(coarse_osm == 255, ~labelled)
        assert np.array_equal(coarse_osm[labelled], lut[fine_osm[labelled]])
    for bad in ([[0, 3], [1, 2]], [[0, 3], [1, 2, 4, 3]], [[0, 1, 2, 3, 4], []]):
        with pytest.raises(ValueError, match='osm_groups'):
            generate_geo_dataset(str(tmp_path / 'bad'), osm_groups=bad, **kwargs)
    assert not (tmp_path / 'bad').exists()  # refused before any file is written


def test_hue_rotation_keeps_luminance_and_turns_chroma():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, size=(3, 8, 8)).astype(np.float32)
    lum = np.array([0.299, 0.587, 0.114], dtype=np.float32) @ img.reshape(3, -1)
    turned = _rotate_hue(img, 2.0)
    np.testing.assert_allclose(
        np.array([0.299, 0.587, 0.114]) @ turned.reshape(3, -1), lum, rtol=0, atol=1e-3
    )
    assert np.abs(turned - img).mean() > 10  # a real change of colour
    np.testing.assert_allclose(_rotate_hue(img, 2 * np.pi), img, atol=1e-3)
    np.testing.assert_allclose(_rotate_hue(_rotate_hue(img, 1.0), -1.0), img, atol=1e-3)
    # the transform draws it per view, within [-hue, hue] turns
    jitter = RandomHRColorJitter(
        brightness=0, contrast=0, saturation=0, prob=1.0, grayscale_prob=0.0, hue=0.5
    )
    np.random.seed(0)
    valid = np.ones((8, 8), dtype=bool)
    outs = [jitter._jitter(img.copy(), valid) for _ in range(4)]
    assert min(np.abs(a - b).mean() for i, a in enumerate(outs) for b in outs[i + 1 :]) > 1
    with pytest.raises(ValueError, match='hue'):
        RandomHRColorJitter(hue=0.7)


def _shuffled_views(img, valid, **kwargs):
    results = dict(
        views=dict(
            global_views=[_view(img, valid) for _ in range(4)],
            local_views=[_view(img, valid) for _ in range(4)],
        )
    )
    out = RandomHRChannelShuffle(**kwargs).transform(results)
    return [v['images']['hr'] for v in out['views']['global_views'] + out['views']['local_views']]


def _view(img, valid):
    return dict(images=dict(hr=img.copy()), valid_masks=dict(hr=valid))


def test_channel_shuffle_permutes_and_inverts_bands_and_keeps_nodata():
    rng = np.random.default_rng(1)
    # integer values: x and 255 - x always differ
    img = rng.integers(1, 255, size=(3, 8, 8)).astype(np.float32)
    valid = np.ones((8, 8), dtype=bool)
    valid[:2, :3] = False
    img[:, ~valid] = 0
    bands = sorted(tuple(b[valid]) for b in img)
    np.random.seed(0)
    # without inversion: every view holds exactly the input bands, in some order
    for x in _shuffled_views(img, valid, prob=1.0, invert_prob=0.0):
        assert (x[:, ~valid] == 0).all()
        assert sorted(tuple(b[valid]) for b in x) == bands
    # with every band inverted: exactly 255 minus the input bands, and nodata still 0
    inverted = sorted(tuple(255 - b[valid]) for b in img)
    for x in _shuffled_views(img, valid, prob=1.0, invert_prob=1.0):
        assert (x[:, ~valid] == 0).all()
        assert sorted(tuple(b[valid]) for b in x) == inverted
    # prob 0: the views are left exactly as they are
    for x in _shuffled_views(img, valid, prob=0.0, invert_prob=1.0):
        assert np.array_equal(x, img)
    with pytest.raises(ValueError, match='invert_prob'):
        RandomHRChannelShuffle(invert_prob=1.5)
