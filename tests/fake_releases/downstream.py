"""Generators of small fake copies of the eight downstream releases, laid out as the real ones.

Used by the tests and the CPU fine-tuning checks: every class gets its own colour (or spectral
signature) and texture, so a model can learn them and a metric clearly above chance shows that
data, labels, model and evaluation are wired together. Layouts follow docs/downstream.md.
"""

import csv
import json
import os
import os.path as osp
from collections.abc import Sequence

import numpy as np

from mmskysense.datasets.downstream.aid import AID_CLASSES
from mmskysense.datasets.downstream.bigearthnet import BEN43_TO_19
from mmskysense.datasets.downstream.fmow import FMOW_CLASSES
from mmskysense.datasets.downstream.isaid import ISAID_PALETTE
from mmskysense.datasets.downstream.potsdam import POTSDAM_PALETTE
from mmskysense.datasets.downstream.resisc45 import RESISC45_CLASSES


def _write_tif(path: str, array: np.ndarray, gsd: float = 10.0) -> None:
    """Write a ``C x H x W`` array as a georeferenced GeoTIFF (UTM 32N, ``gsd`` m pixels)."""
    import rasterio

    os.makedirs(osp.dirname(path), exist_ok=True)
    count, height, width = array.shape
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        height=height,
        width=width,
        count=count,
        dtype=array.dtype.name,
        crs='EPSG:32632',
        transform=rasterio.Affine(gsd, 0.0, 500000.0, 0.0, -gsd, 5000000.0),
    ) as dst:
        dst.write(array)


def _write_rgb(path: str, rgb: np.ndarray) -> None:
    """Write an ``H x W x 3`` RGB uint8 array with mmcv (which writes BGR order)."""
    import mmcv

    os.makedirs(osp.dirname(path), exist_ok=True)
    mmcv.imwrite(np.ascontiguousarray(rgb[..., ::-1]), path)


def class_colour(index: int, num_classes: int) -> np.ndarray:
    """A distinct RGB colour per class: hues spread around the circle, two brightness levels."""
    import colorsys

    hue = (index * 0.61803398875) % 1.0
    value = 0.95 if index % 2 == 0 else 0.6
    return np.array(colorsys.hsv_to_rgb(hue, 0.85, value)) * 255.0


def _scene(index: int, num_classes: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """An RGB scene of one class: its colour modulated by stripes of a class-specific period."""
    colour = class_colour(index, num_classes)
    period = 4 + index % 7
    yy, xx = np.mgrid[0:size, 0:size]
    phase = rng.integers(0, period)
    stripes = ((xx + yy + phase) // period) % 2
    img = colour[None, None, :] * (0.75 + 0.25 * stripes[..., None])
    img += rng.normal(0, 10, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _scene_folders(
    root: str, classes: Sequence[str], per_class: int, size: int, seed: int, name_fn
) -> None:
    rng = np.random.default_rng(seed)
    for i, name in enumerate(classes):
        for n in range(1, per_class + 1):
            _write_rgb(osp.join(root, name, name_fn(name, n)), _scene(i, len(classes), size, rng))


def make_aid(root: str, per_class: int = 4, size: int = 600, seed: int = 0) -> str:
    """``root/<ClassName>/<classname>_<n>.jpg`` for the 30 AID classes (600 x 600 in AID)."""
    _scene_folders(root, AID_CLASSES, per_class, size, seed, lambda c, n: f'{c.lower()}_{n}.jpg')
    return root


def make_resisc45(root: str, per_class: int = 4, size: int = 256, seed: int = 0) -> str:
    """``root/<class>/<class>_<nnn>.jpg`` for the 45 NWPU-RESISC45 classes (256 x 256)."""
    _scene_folders(root, RESISC45_CLASSES, per_class, size, seed, lambda c, n: f'{c}_{n:03d}.jpg')
    return root


def _spectral_signature(index: int, num_bands: int) -> np.ndarray:
    """A per-class reflectance curve (uint16 scale) peaking at a class-specific band."""
    bands = np.arange(num_bands)
    peak = index % num_bands
    level = 1500 + 600 * (index // num_bands)
    return level + 2500 * np.exp(-0.5 * ((bands - peak) / 1.2) ** 2)


BEN_BAND_GSD = {
    'B01': 60,
    'B02': 10,
    'B03': 10,
    'B04': 10,
    'B05': 20,
    'B06': 20,
    'B07': 20,
    'B08': 10,
    'B8A': 20,
    'B09': 60,
    'B11': 20,
    'B12': 20,
}
_BEN_BAND_ORDER = ('B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12')


def make_bigearthnet(
    root: str, patches: dict[str, int] = None, size: int = 120, seed: int = 0
) -> str:
    """``root/BigEarthNet-v1.0/<patch>/<patch>_<band>.tif`` (12 bands at 10/20/60 m grids),
    ``<patch>_labels_metadata.json`` and ``root/{train,val,test}.csv``.

    Each patch holds 1-3 of the 19 classes; each class adds its spectral signature to one
    horizontal band of rows, so labels are recoverable from the pixels. ``size`` is the 10 m
    grid (120 in the release); 20 m and 60 m bands are size/2 and size/6.
    """
    patches = patches or dict(train=40, val=10, test=10)
    rng = np.random.default_rng(seed)
    by19: dict[int, list[str]] = {}
    for name, idx in BEN43_TO_19.items():
        if idx is not None:
            by19.setdefault(idx, []).append(name)
    counter = 0
    for split, num in patches.items():
        names = []
        for _ in range(num):
            name = f'S2A_MSIL2A_20170613T101031_{counter // 100}_{counter % 100}'
            counter += 1
            classes = sorted(rng.choice(19, size=int(rng.integers(1, 4)), replace=False))
            cube = np.full((len(_BEN_BAND_ORDER), size, size), 800.0)
            rows = np.array_split(np.arange(size), len(classes))
            for cls, part in zip(classes, rows):
                cube[:, part, :] = _spectral_signature(int(cls), len(_BEN_BAND_ORDER))[
                    :, None, None
                ]
            cube += rng.normal(0, 60, cube.shape)
            folder = osp.join(root, 'BigEarthNet-v1.0', name)
            for band, gsd in BEN_BAND_GSD.items():
                side = size * 10 // gsd
                plane = (
                    cube[_BEN_BAND_ORDER.index(band)]
                    if band in _BEN_BAND_ORDER
                    else np.full((size, size), 300.0)
                )
                step = size // side
                plane = plane[::step, ::step][:side, :side]
                _write_tif(
                    osp.join(folder, f'{name}_{band}.tif'),
                    np.clip(plane, 0, 10000).astype(np.uint16)[None],
                )
            labels = [str(rng.choice(by19[int(c)])) for c in classes]
            with open(osp.join(folder, f'{name}_labels_metadata.json'), 'w') as f:
                json.dump(
                    dict(
                        labels=labels,
                        coordinates=dict(ulx=0, uly=0, lrx=1200, lry=1200),
                        projection='',
                        tile_source='fake',
                        acquisition_date='2017-06-13 10:10:31',
                    ),
                    f,
                )
            names.append(name)
        with open(osp.join(root, f'{split}.csv'), 'w') as f:
            f.write(''.join(f'{n}\n' for n in names))
    return root


def make_fmow_sentinel(
    root: str,
    locations: dict[str, int] = None,
    dates: tuple[int, int] = (2, 5),
    size: int = 32,
    num_classes: int | None = None,
    seed: int = 0,
) -> str:
    """``root/{train,val,test_gt}.csv`` and
    ``root/<split dir>/<cat>/<cat>_<loc>/<cat>_<loc>_<img>.tif`` (13 bands, uint16).

    ``num_classes`` limits the categories used (the first ones) so that a short run sees each
    class several times; every location has between ``dates[0]`` and ``dates[1]`` images.
    """
    locations = locations or dict(train=40, val=10, test=10)
    dirs = dict(train='train', val='val', test='test_gt')
    files = dict(train='train.csv', val='val.csv', test='test_gt.csv')
    num_classes = num_classes or len(FMOW_CLASSES)
    rng = np.random.default_rng(seed)
    for split, num in locations.items():
        rows = []
        for loc in range(num):
            cls = loc % num_classes
            cat = FMOW_CLASSES[cls]
            for img_id in range(int(rng.integers(dates[0], dates[1] + 1))):
                sig = _spectral_signature(cls, 13)
                cube = sig[:, None, None] * (0.8 + 0.4 * rng.random((1, size, size)))
                cube += rng.normal(0, 80, (13, size, size))
                stem = f'{cat}_{loc}'
                _write_tif(
                    osp.join(root, dirs[split], cat, stem, f'{stem}_{img_id}.tif'),
                    np.clip(cube, 0, 10000).astype(np.uint16),
                )
                rows.append(
                    dict(
                        category=cat,
                        location_id=loc,
                        image_id=img_id,
                        timestamp=f'20{16 + img_id // 12:02d}-{img_id % 12 + 1:02d}-'
                        f'{int(rng.integers(1, 28)):02d}T10:00:00Z',
                        polygon='POLYGON EMPTY',
                    )
                )
        with open(osp.join(root, files[split]), 'w', newline='') as f:
            writer = csv.DictWriter(
                f, fieldnames=['category', 'location_id', 'image_id', 'timestamp', 'polygon']
            )
            writer.writeheader()
            writer.writerows(rows)
    return root


def _label_layout(num_classes: int, size: int, rng: np.random.Generator, cell: int) -> np.ndarray:
    """A label map of ``cell`` x ``cell`` blocks, each of a random class."""
    grid = rng.integers(0, num_classes, ((size + cell - 1) // cell,) * 2)
    return np.kron(grid, np.ones((cell, cell), dtype=np.int64))[:size, :size]


def _paint(
    labels: np.ndarray, colours: np.ndarray, rng: np.random.Generator, noise: float
) -> np.ndarray:
    img = colours[labels].astype(np.float64) + rng.normal(0, noise, labels.shape + (3,))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_isaid(
    root: str, images: dict[str, int] = None, size: int = 1024, cell: int = 64, seed: int = 0
) -> str:
    """The extracted iSAID release: ``root/{train,val}/images/P<nnnn>.png`` and
    ``root/{train,val}/Semantic_masks/images/P<nnnn>_instance_color_RGB.png``."""
    images = images or dict(train=2, val=1)
    rng = np.random.default_rng(seed)
    palette = np.array(ISAID_PALETTE)
    look = np.array([class_colour(i, len(palette)) for i in range(len(palette))])
    count = 0
    for split, num in images.items():
        for _ in range(num):
            name = f'P{count:04d}'
            count += 1
            labels = _label_layout(len(palette), size, rng, cell)
            _write_rgb(osp.join(root, split, 'images', f'{name}.png'), _paint(labels, look, rng, 8))
            _write_rgb(
                osp.join(root, split, 'Semantic_masks', 'images', f'{name}_instance_color_RGB.png'),
                palette[labels].astype(np.uint8),
            )
    return root


def make_potsdam(
    root: str,
    tiles: Sequence[str] = ('2_10', '2_13'),
    size: int = 6000,
    cell: int = 64,
    seed: int = 0,
) -> str:
    """The extracted Potsdam release: ``root/2_Ortho_RGB/top_potsdam_<id>_RGB.tif`` and the
    colour-coded ``root/5_Labels_all{,_noBoundary}/top_potsdam_<id>_label{,_noBoundary}.tif``
    (the noBoundary variant has black eroded boundaries)."""
    rng = np.random.default_rng(seed)
    palette = np.array(POTSDAM_PALETTE)
    look = np.array([class_colour(i, len(palette)) for i in range(len(palette))])
    for tile in tiles:
        labels = _label_layout(len(palette), size, rng, cell)
        img = _paint(labels, look, rng, 8)
        _write_tif(
            osp.join(root, '2_Ortho_RGB', f'top_potsdam_{tile}_RGB.tif'),
            img.transpose(2, 0, 1).copy(),
        )
        colour = palette[labels].astype(np.uint8)
        _write_tif(
            osp.join(root, '5_Labels_all', f'top_potsdam_{tile}_label.tif'),
            colour.transpose(2, 0, 1).copy(),
        )
        edge = np.zeros(labels.shape, bool)
        edge[1:, :] |= labels[1:, :] != labels[:-1, :]
        edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
        colour[edge] = 0
        _write_tif(
            osp.join(root, '5_Labels_all_noBoundary', f'top_potsdam_{tile}_label_noBoundary.tif'),
            colour.transpose(2, 0, 1).copy(),
        )
    return root


def make_dynamic_earthnet(
    root: str,
    cubes: dict[str, int] = None,
    months: Sequence[str] = ('2018-01', '2018-02', '2018-03'),
    size: int = 1024,
    s2_size: int = 307,
    s2_bands: int = 12,
    cell: int = 64,
    seed: int = 0,
) -> str:
    """The DynamicEarthNet layout described in ``dynamic_earthnet.py``: split files, daily
    Planet 4-band tifs (the 1st and 15th of every month), 7-band one-hot monthly labels and
    monthly Sentinel-2 tifs of ``s2_bands`` bands on a coarser ``s2_size`` grid."""
    cubes = cubes or dict(train=2, val=1, test=1)
    rng = np.random.default_rng(seed)
    count = 0
    for split, num in cubes.items():
        lines = []
        for _ in range(num):
            zone, cube = '10N', f'{1300 + count}_{3000 + count}_13'
            count += 1
            planet_dir = f'/reprocess-cropped/UTM-24000/{zone}/{cube}/PF-SR'
            for ym in months:
                # six classes drawn; snow & ice (band 6) appears rarely and is ignored later
                labels = _label_layout(7, size, rng, cell)
                labels[labels == 6] = rng.integers(0, 6)
                labels[: cell // 2, : cell // 2] = 6
                onehot = np.stack([(labels == k) * 255 for k in range(7)]).astype(np.uint8)
                month = ym.replace('-', '_')
                label_rel = f'labels/{cube}_{zone}/Labels/Raster/{cube}/{cube}-{month}_01.tif'
                _write_tif(osp.join(root, label_rel), onehot)
                for day in ('01', '15'):
                    bgrn = np.stack([_spectral_signature(int(k), 4) for k in range(7)])
                    planet = bgrn[labels].transpose(2, 0, 1) + rng.normal(0, 80, (4, size, size))
                    _write_tif(
                        osp.join(root, 'planet', zone, cube, 'PF-SR', f'{ym}-{day}.tif'),
                        np.clip(planet, 0, 10000).astype(np.uint16),
                    )
                step = size / s2_size
                idx = (np.arange(s2_size) * step).astype(int)
                coarse = labels[idx][:, idx]
                sig = np.stack([_spectral_signature(int(k), s2_bands) for k in range(7)])
                s2 = sig[coarse].transpose(2, 0, 1) + rng.normal(
                    0, 80, (s2_bands, s2_size, s2_size)
                )
                _write_tif(
                    osp.join(root, 'sentinel2', zone, cube, 'S2', f'{ym}.tif'),
                    np.clip(s2, 0, 10000).astype(np.uint16),
                )
                lines.append(f'{planet_dir} /{label_rel} {ym}\n')
        os.makedirs(osp.join(root, 'dynnet_training_splits'), exist_ok=True)
        with open(osp.join(root, 'dynnet_training_splits', f'{split}.txt'), 'w') as f:
            f.writelines(lines)
    return root


__all__ = [
    'make_aid',
    'make_resisc45',
    'make_bigearthnet',
    'make_fmow_sentinel',
    'make_isaid',
    'make_potsdam',
    'make_dynamic_earthnet',
    'class_colour',
]
