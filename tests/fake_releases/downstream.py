"""Generators of small fake copies of the downstream releases, laid out as the real ones.

Used by the tests and the CPU fine-tuning checks: every class gets its own colour (or spectral
signature) and texture, so a model can learn them and a metric clearly above chance shows that
data, labels, model and evaluation are wired together. Layouts follow docs/downstream.md.

The class lists, colour codes and label tables below are transcribed from the releases and the
dataset authors' files (named at each), not imported from the readers: a fake release must not
take its truth from the reader it tests.
"""

import csv
import json
import os
import os.path as osp
from collections.abc import Sequence

import numpy as np

from .release_tables import (
    AID_FOLDERS,
    BEN_LABEL_INDICES,
    FMOW_CATEGORIES,
    ISAID_MASK_COLOURS,
    POTSDAM_LABEL_COLOURS,
    RESISC45_FOLDERS,
    ben_dropped_names,
)

AID_CLASSES = AID_FOLDERS
RESISC45_CLASSES = RESISC45_FOLDERS
FMOW_CLASSES = FMOW_CATEGORIES
ISAID_PALETTE = ISAID_MASK_COLOURS
POTSDAM_PALETTE = POTSDAM_LABEL_COLOURS


def _write_tif(
    path: str,
    array: np.ndarray,
    gsd: float = 10.0,
    crs: str = 'EPSG:32632',
    origin: tuple[float, float] = (500000.0, 5000000.0),
) -> None:
    """Write a ``C x H x W`` array as a georeferenced GeoTIFF (north-up, ``gsd`` m pixels,
    upper-left corner at ``origin``): the tests' writer on the fake releases' grid."""
    from helpers.geotiff import write_geotiff  # rasterio only where a release has GeoTIFFs

    os.makedirs(osp.dirname(path), exist_ok=True)
    write_geotiff(path, array, res=gsd, origin=origin, crs=crs)


def _dump_json(path: str, **fields) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(fields, f)


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


def _ben_names(classes, rng: np.random.Generator, extra_dropped: bool) -> list[str]:
    """43-class names of a patch holding the 19-class ``classes`` (official label_conversion),
    with a name outside the nomenclature added when ``extra_dropped``."""
    original = {i: n for n, i in BEN_LABEL_INDICES['original_labels'].items()}
    names = [original[int(rng.choice(BEN_LABEL_INDICES['label_conversion'][c]))] for c in classes]
    if extra_dropped:
        names.append(str(rng.choice(ben_dropped_names())))
    return names


# BigEarthNet-S1 backscatter of the fake classes (dB): VV level per class, VH about 7 dB lower
def _s1_level(index: int) -> float:
    return -22.0 + 1.1 * index


def make_bigearthnet(
    root: str,
    patches: dict[str, int] = None,
    size: int = 120,
    seed: int = 0,
    with_s1: bool = False,
    split_columns: int = 1,
    visible: dict[str, Sequence[int]] | None = None,
    only_dropped: int = 0,
) -> str:
    """The BigEarthNet-S2 v1.0 release (and, with ``with_s1``, BigEarthNet-S1 v1.0 beside it).

    ``root/BigEarthNet-v1.0/<patch>/<patch>_<band>.tif`` (12 bands at 10/20/60 m grids, uint16),
    ``<patch>_labels_metadata.json`` and ``root/{train,val,test}.csv``. With ``with_s1``:
    ``root/BigEarthNet-S1-v1.0/<S1 patch>/<S1 patch>_{VV,VH}.tif`` (float32 sigma0 in dB) and
    ``_labels_metadata.json`` naming ``corresponding_s2_patch``; ``split_columns=2`` writes the
    BigEarthNet-MM split files (``<S2 patch>,<S1 patch>``), 1 the S2-only ones, and an
    ``s1s2_mapping.csv`` is written either way.

    Each patch holds 1-3 of the 19 classes, named by 43-class names through the official
    label_conversion; every third patch also carries a name outside the 19-class nomenclature
    (e.g. 'Intertidal flats'), which must not change its labels, and the first ``only_dropped``
    training patches carry only such names (no 19-class label at all). Each class paints one
    horizontal band of rows with its spectral signature in S2 and its backscatter level in S1,
    in the modalities of ``visible`` (default: every class in both); elsewhere the modality
    shows the background. ``size`` is the 10 m grid (120 in the release).
    """
    patches = patches or dict(train=40, val=10, test=10)
    visible = visible or dict(s2=range(19), s1=range(19))
    rng = np.random.default_rng(seed)
    counter = 0
    mapping = []
    for split, num in patches.items():
        rows_out = []
        for k in range(num):
            row, col = counter // 100, counter % 100
            name = f'S2A_MSIL2A_20170613T101031_{row}_{col}'
            s1_name = f'S1A_IW_GRDH_1SDV_20170613T165043_33UUP_{row}_{col}'
            counter += 1
            if split == 'train' and k < only_dropped:
                classes, names = [], [str(n) for n in rng.choice(ben_dropped_names(), 2, False)]
            else:
                classes = sorted(rng.choice(19, size=int(rng.integers(1, 4)), replace=False))
                names = _ben_names(classes, rng, extra_dropped=counter % 3 == 0)
            cube = np.full((len(_BEN_BAND_ORDER), size, size), 800.0)
            vv = np.full((size, size), -8.0)
            for cls, part in zip(classes, np.array_split(np.arange(size), max(len(classes), 1))):
                if int(cls) in visible.get('s2', ()):
                    sig = _spectral_signature(int(cls), len(_BEN_BAND_ORDER))
                    cube[:, part, :] = sig[:, None, None]
                if int(cls) in visible.get('s1', ()):
                    vv[part, :] = _s1_level(int(cls))
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
                    gsd=float(gsd),
                )
            _dump_json(
                osp.join(folder, f'{name}_labels_metadata.json'),
                labels=names,
                coordinates=dict(ulx=500000, uly=5000000, lrx=501200, lry=4998800),
                projection='',
                tile_source='S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP',
                acquisition_date='2017-06-13 10:10:31',
            )
            if with_s1:
                s1_folder = osp.join(root, 'BigEarthNet-S1-v1.0', s1_name)
                noise = rng.normal(0, 0.8, (2, size, size))
                for band, plane in (('VV', vv + noise[0]), ('VH', vv - 7.0 + noise[1])):
                    _write_tif(
                        osp.join(s1_folder, f'{s1_name}_{band}.tif'),
                        plane.astype(np.float32)[None],
                    )
                _dump_json(
                    osp.join(s1_folder, f'{s1_name}_labels_metadata.json'),
                    labels=names,
                    coordinates=dict(ulx=500000, uly=5000000, lrx=501200, lly=4998800),
                    projection='',
                    corresponding_s2_patch=name,
                    scene_source='S1A_IW_GRDH_1SDV_20170613T165043',
                    acquisition_time='2017-06-13T16:50:43',
                )
            rows_out.append(f'{name},{s1_name}' if split_columns == 2 else name)
            mapping.append(f'{name},{s1_name}')
        with open(osp.join(root, f'{split}.csv'), 'w') as f:
            f.write(''.join(f'{r}\n' for r in rows_out))
    if with_s1:
        with open(osp.join(root, 's1s2_mapping.csv'), 'w') as f:
            f.write(''.join(f'{r}\n' for r in mapping))
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


def make_isaid_mmseg_converted(
    root: str, patches: dict[str, int] = None, size: int = 64, cell: int = 16, seed: int = 0
) -> str:
    """What mmsegmentation's iSAID converter writes:
    ``img_dir/<split>/P<n>_<y0>_<y1>_<x0>_<x1>.png`` (BMP data under a ``.png`` name, as its
    ``slide_crop_image`` saves them) and
    ``ann_dir/<split>/P<n>_<y0>_<y1>_<x0>_<x1>_instance_color_RGB.png`` (palette-mode PNG of
    class ids 0..15)."""
    from PIL import Image

    patches = patches or dict(train=2, val=1)
    rng = np.random.default_rng(seed)
    look = np.array([class_colour(i, len(ISAID_PALETTE)) for i in range(len(ISAID_PALETTE))])
    count = 0
    for split, num in patches.items():
        for dirname in ('img_dir', 'ann_dir'):
            os.makedirs(osp.join(root, dirname, split), exist_ok=True)
        for _ in range(num):
            labels = _label_layout(len(ISAID_PALETTE), size, rng, cell)
            stem = f'P{count:04d}_0_{size}_{512 * count}_{512 * count + size}'
            count += 1
            Image.fromarray(_paint(labels, look, rng, 8)).save(
                osp.join(root, 'img_dir', split, stem + '.png'), format='BMP'
            )
            ann = Image.frombytes('P', (size, size), labels.astype(np.uint8).tobytes())
            # without a palette Pillow re-indexes the image when it writes it
            ann.putpalette([v for i in range(256) for v in (i, i, i)])
            ann.save(osp.join(root, 'ann_dir', split, stem + '_instance_color_RGB.png'))
    return root


def make_potsdam(
    root: str,
    tiles: Sequence[str] = ('2_10', '2_13'),
    size: int = 6000,
    cell: int = 64,
    seed: int = 0,
    labels_in_folder: bool = False,
) -> str:
    """The Potsdam release with its archives extracted in ``root``:
    ``root/2_Ortho_RGB/top_potsdam_<id>_RGB.tif`` (+ ``.tfw``; ``2_Ortho_RGB.zip`` holds that
    folder) and the colour-coded ``top_potsdam_<id>_label.tif`` and
    ``top_potsdam_<id>_label_noBoundary.tif`` (black eroded boundaries) directly in ``root``,
    because ``5_Labels_all.zip`` and ``5_Labels_all_noBoundary.zip`` hold no top folder.
    ``labels_in_folder`` puts them in ``5_Labels_all{,_noBoundary}/`` instead."""
    rng = np.random.default_rng(seed)
    palette = np.array(POTSDAM_PALETTE)
    look = np.array([class_colour(i, len(palette)) for i in range(len(palette))])
    for tile in tiles:
        labels = _label_layout(len(palette), size, rng, cell)
        img = _paint(labels, look, rng, 8)
        rgb_path = osp.join(root, '2_Ortho_RGB', f'top_potsdam_{tile}_RGB.tif')
        _write_tif(rgb_path, img.transpose(2, 0, 1).copy(), gsd=0.05)
        with open(rgb_path[: -len('.tif')] + '.tfw', 'w') as f:
            f.write('0.05\n0.0\n0.0\n-0.05\n500000.025\n5000000.025\n')
        colour = palette[labels].astype(np.uint8)
        full_dir = osp.join(root, '5_Labels_all') if labels_in_folder else root
        _write_tif(
            osp.join(full_dir, f'top_potsdam_{tile}_label.tif'),
            colour.transpose(2, 0, 1).copy(),
            gsd=0.05,
        )
        edge = np.zeros(labels.shape, bool)
        edge[1:, :] |= labels[1:, :] != labels[:-1, :]
        edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
        colour[edge] = 0
        nb_dir = osp.join(root, '5_Labels_all_noBoundary') if labels_in_folder else root
        _write_tif(
            osp.join(nb_dir, f'top_potsdam_{tile}_label_noBoundary.tif'),
            colour.transpose(2, 0, 1).copy(),
            gsd=0.05,
        )
    return root


def make_potsdam_mmseg_converted(root: str, size: int = 64, cell: int = 16, seed: int = 0) -> str:
    """What mmsegmentation's Potsdam converter writes: ``{img,ann}_dir/{train,val}/
    <i>_<j>_<x0>_<y0>_<x1>_<y1>.png`` with ids 0 (boundary) and 1..6 (the classes)."""
    rng = np.random.default_rng(seed)
    look = np.array([class_colour(i, len(POTSDAM_PALETTE)) for i in range(len(POTSDAM_PALETTE))])
    for split, tile in (('train', '2_10'), ('val', '2_13')):
        labels = _label_layout(len(POTSDAM_PALETTE), size, rng, cell)
        name = f'{tile}_0_0_{size}_{size}.png'
        _write_rgb(osp.join(root, 'img_dir', split, name), _paint(labels, look, rng, 8))
        ids = (labels + 1).astype(np.uint8)
        ids[::7, :] = 0
        import mmcv

        mmcv.imwrite(ids, osp.join(root, 'ann_dir', split, name))
    return root


def visible_code(labels: np.ndarray, which: str, visible: str) -> np.ndarray:
    """The class code a modality sees: ``'all'`` the class itself, ``'parity'`` k % 2,
    ``'third'`` k // 2 (so parity and third together identify the class), ``'none'`` nothing."""
    if visible == 'all':
        return labels
    if visible == 'parity':
        return labels % 2
    if visible == 'third':
        return labels // 2
    if visible == 'none':
        return np.zeros_like(labels)
    raise ValueError(f'{which}: unknown visibility {visible!r}')


def make_dynamic_earthnet(
    root: str,
    cubes: dict[str, int] = None,
    months: Sequence[str] = ('2018-01', '2018-02', '2018-03'),
    size: int = 1024,
    s2_size: int = 307,
    s2_bands: int = 12,
    s1_bands: int = 8,
    cell: int = 64,
    seed: int = 0,
    with_sentinel1: bool = True,
    days: Sequence[str] = ('01', '15'),
    missing: Sequence[str] = (),
    missing_s1: Sequence[tuple[int, str]] = (),
    unclaimed: int = 0,
    visible: dict[str, str] | None = None,
) -> str:
    """The DynamicEarthNet release as documented in ``dynamic_earthnet.py``.

    Split files ``dynnet_training_splits/{train,val,test}.txt`` with the release's Planet paths
    (``/reprocess-cropped/UTM-24000/<zone>/<tile>/<cube>/PF-SR``), daily Planet 4-band tifs
    ``planet/<zone>/<tile>/<cube>/PF-SR/<YYYY-MM-DD>.tif`` (only the ``days`` given, 3 m) with
    their ``PF-QA`` files, 7-band one-hot monthly labels
    ``labels/<cube>_<zone>/Labels/Raster/<name>/<name>-<YYYY>_<MM>_01.tif``, and monthly
    Sentinel-2 (``s2_bands`` bands) and Sentinel-1 (``s1_bands``, VV and VH first; assumed
    layout) composites on a coarser ``s2_size`` grid.

    ``missing``: cubes (``'<split>:<index>'``) whose label and Planet files are left out though
    the split file lists them, as the release lacked two training cubes; ``missing_s1``:
    ``(cube index, YYYY-MM)`` Sentinel-1 months left out; ``unclaimed``: pixels of every label
    that no band claims (a strip at the top). ``visible``: per modality (``planet``, ``s2``,
    ``s1``) which class code it shows (``visible_code``), default the class in all three.
    """
    cubes = cubes or dict(train=2, val=1, test=1)
    visible = visible or dict(planet='all', s2='all', s1='all')
    rng = np.random.default_rng(seed)
    count = 0
    for split, num in cubes.items():
        lines = []
        for local in range(num):
            zone, tile = '10N', f'{27 + count}E-{188 + count}N'
            cube = f'{1300 + count}_{3000 + count}_13'
            name = f'{zone}-{122 + count}W-{40 + count}N-L3H-SR'
            gone = f'{split}:{local}' in missing
            cube_index = count
            count += 1
            planet_rel = f'{zone}/{tile}/{cube}/PF-SR'
            for ym in months:
                labels = _label_layout(7, size, rng, cell)
                labels[labels == 6] = rng.integers(0, 6)
                labels[: cell // 2, : cell // 2] = 6  # snow & ice: ignored later
                onehot = np.stack([(labels == k) * 255 for k in range(7)]).astype(np.uint8)
                onehot[:, :unclaimed, :] = 0
                month = ym.replace('-', '_')
                label_rel = f'labels/{cube}_{zone}/Labels/Raster/{name}/{name}-{month}_01.tif'
                lines.append(f'/reprocess-cropped/UTM-24000/{planet_rel} /{label_rel} {ym}\n')
                if gone:
                    continue
                _write_tif(osp.join(root, label_rel), onehot, gsd=3.0)
                code = visible_code(labels, 'planet', visible.get('planet', 'all'))
                bgrn = np.stack([_spectral_signature(int(k), 4) for k in range(7)])
                for day in days:
                    planet = bgrn[code].transpose(2, 0, 1) + rng.normal(0, 80, (4, size, size))
                    _write_tif(
                        osp.join(root, 'planet', planet_rel, f'{ym}-{day}.tif'),
                        np.clip(planet, 0, 10000).astype(np.uint16),
                        gsd=3.0,
                    )
                    _write_tif(
                        osp.join(root, 'planet', zone, tile, cube, 'PF-QA', f'{ym}-{day}.tif'),
                        np.zeros((1, size, size), np.int8),
                        gsd=3.0,
                    )
                step = size / s2_size
                idx = (np.arange(s2_size) * step).astype(int)
                coarse = labels[idx][:, idx]
                gsd = 3.0 * size / s2_size
                s2_code = visible_code(coarse, 's2', visible.get('s2', 'all'))
                sig = np.stack([_spectral_signature(int(k), s2_bands) for k in range(7)])
                s2 = sig[s2_code].transpose(2, 0, 1) + rng.normal(
                    0, 80, (s2_bands, s2_size, s2_size)
                )
                _write_tif(
                    osp.join(root, 'sentinel2', zone, tile, cube, 'S2', f'{ym}.tif'),
                    np.clip(s2, 0, 10000).astype(np.uint16),
                    gsd=gsd,
                )
                if with_sentinel1 and (cube_index, ym) not in missing_s1:
                    s1_code = visible_code(coarse, 's1', visible.get('s1', 'all'))
                    vv = np.vectorize(_s1_level)(s1_code)
                    s1 = np.stack([vv, vv - 7.0] + [vv * 0.5] * (s1_bands - 2))
                    s1 = s1 + rng.normal(0, 0.8, s1.shape)
                    _write_tif(
                        osp.join(root, 'sentinel1', zone, tile, cube, 'S1', f'{ym}.tif'),
                        s1.astype(np.float32),
                        gsd=gsd,
                    )
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
    'make_isaid_mmseg_converted',
    'make_potsdam_mmseg_converted',
    'class_colour',
]
