"""Small fake copies of the LEVIR-CD and OSCD releases, laid out as the real ones, with planted
changes: date 2 is date 1 under other light, plus new buildings (LEVIR-CD) or new built-up
patches (OSCD), and the label marks exactly the new ones (255). Buildings that exist on both
dates are not change, so a model must compare the dates, not detect buildings.

Layouts: mmskysense/datasets/change_detection/{levir_cd,oscd}.py and docs/downstream.md.
"""

import os
import os.path as osp
from collections.abc import Sequence

import numpy as np

OSCD_IMAGES = 'Onera Satellite Change Detection dataset - Images'
OSCD_LABELS = {
    'train': 'Onera Satellite Change Detection dataset - Train Labels',
    'test': 'Onera Satellite Change Detection dataset - Test Labels',
}
# the order TorchGeo's generator writes them in; the reader picks bands by name
OSCD_BAND_FILES = (
    'B01',
    'B02',
    'B03',
    'B04',
    'B05',
    'B06',
    'B07',
    'B08',
    'B09',
    'B10',
    'B11',
    'B12',
    'B8A',
)
# the order of the generated spectra (wavelength)
_WAVELENGTH_ORDER = (
    'B01',
    'B02',
    'B03',
    'B04',
    'B05',
    'B06',
    'B07',
    'B08',
    'B8A',
    'B09',
    'B10',
    'B11',
    'B12',
)


def _write_png(path: str, array: np.ndarray) -> None:
    """An ``H x W x 3`` RGB or ``H x W`` grey uint8 array as PNG."""
    import mmcv

    os.makedirs(osp.dirname(path), exist_ok=True)
    if array.ndim == 3:
        array = np.ascontiguousarray(array[..., ::-1])  # mmcv writes BGR
    mmcv.imwrite(array, path)


def _rectangles(
    size: int,
    count: int,
    rng: np.random.Generator,
    min_side: int,
    max_side: int,
    avoid: np.ndarray | None = None,
) -> np.ndarray:
    """A mask of ``count`` axis-aligned rectangles (not touching ``avoid``)."""
    mask = np.zeros((size, size), dtype=bool)
    for _ in range(count * 20):
        if count == 0:
            break
        h, w = rng.integers(min_side, max_side + 1, 2)
        y, x = rng.integers(0, size - h), rng.integers(0, size - w)
        box = (slice(max(y - 2, 0), y + h + 2), slice(max(x - 2, 0), x + w + 2))
        if mask[box].any() or (avoid is not None and avoid[box].any()):
            continue
        mask[y : y + h, x : x + w] = True
        count -= 1
    return mask


def _landscape(size: int, rng: np.random.Generator) -> np.ndarray:
    """Fields of green and brown blocks with texture, ``H x W x 3`` float."""
    cell = max(8, size // 8)
    grid = rng.integers(0, 3, ((size + cell - 1) // cell,) * 2)
    fields = np.kron(grid, np.ones((cell, cell), dtype=np.int64))[:size, :size]
    colours = np.array([[70, 110, 50], [120, 100, 70], [90, 130, 70]], dtype=np.float64)
    img = colours[fields] + rng.normal(0, 8, (size, size, 3))
    return img


def levir_pair(
    size: int, rng: np.random.Generator, new: int = 6, old: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two RGB dates and their 0/255 change mask: buildings of date 1 stay, ``new`` appear
    (about 8% of the pixels change at the defaults)."""
    side = max(4, size // 6)
    old_mask = _rectangles(size, old, rng, side // 2, side)
    new_mask = _rectangles(size, new, rng, side // 2, side, avoid=old_mask)
    base = _landscape(size, rng)
    roof = np.array([200, 80, 60], dtype=np.float64)
    a = base.copy()
    a[old_mask] = roof + rng.normal(0, 6, (int(old_mask.sum()), 3))
    b = base * rng.uniform(0.85, 1.15) + rng.normal(0, 6, base.shape)  # other light and noise
    b[old_mask] = a[old_mask] * rng.uniform(0.9, 1.1)
    b[new_mask] = roof + rng.normal(0, 6, (int(new_mask.sum()), 3))
    to8 = lambda x: np.clip(x, 0, 255).astype(np.uint8)  # noqa: E731
    return to8(a), to8(b), (new_mask * 255).astype(np.uint8)


def make_levir_cd(
    root: str,
    pairs: dict[str, int] | None = None,
    size: int = 1024,
    layout: str = 'split',
    seed: int = 0,
) -> str:
    """LEVIR-CD: ``root/<split>/{A,B,label}/<split>_<n>.png`` (``layout='split'``, one folder
    per extracted archive) or ``root/{A,B,label}/<split>_<n>.png`` (``'merged'``)."""
    if layout not in ('split', 'merged'):
        raise ValueError(f'layout must be "split" or "merged", got {layout!r}')
    pairs = pairs or dict(train=2, val=1, test=1)
    rng = np.random.default_rng(seed)
    for split, num in pairs.items():
        folder = osp.join(root, split) if layout == 'split' else root
        for n in range(1, num + 1):
            a, b, label = levir_pair(size, rng)
            name = f'{split}_{n}.png'
            _write_png(osp.join(folder, 'A', name), a)
            _write_png(osp.join(folder, 'B', name), b)
            _write_png(osp.join(folder, 'label', name), label)
    return root


def _band_signatures(num_bands: int) -> dict[str, np.ndarray]:
    """Reflectance curves (L1C digital numbers) of vegetation, soil and built-up land."""
    x = np.linspace(0.0, 1.0, num_bands)
    return dict(
        vegetation=900 + 2600 * np.clip(x * 2.5 - 0.8, 0, 1),
        soil=1400 + 900 * x,
        urban=2400 + 300 * np.sin(6 * x),
    )


def oscd_city(
    size: tuple[int, int], rng: np.random.Generator, num_bands: int = 13, new: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two dates ``num_bands x H x W`` (uint16) and the 0/255 change mask of a city."""
    h, w = size
    sig = _band_signatures(num_bands)
    side = max(4, min(h, w) // 8)
    urban = _rectangles(min(h, w), 2, rng, side, 2 * side)
    urban = np.pad(urban, ((0, h - urban.shape[0]), (0, w - urban.shape[1])))
    grown = _rectangles(min(h, w), new, rng, side // 2, side, avoid=urban)
    grown = np.pad(grown, ((0, h - grown.shape[0]), (0, w - grown.shape[1])))
    veg = rng.random((h, w)) < 0.6
    land = np.where(veg[None], sig['vegetation'][:, None, None], sig['soil'][:, None, None])
    a = land + rng.normal(0, 60, (num_bands, h, w))
    a[:, urban] = sig['urban'][:, None]
    b = land * rng.uniform(0.9, 1.1) + rng.normal(0, 60, (num_bands, h, w))
    b[:, urban | grown] = sig['urban'][:, None] * rng.uniform(0.95, 1.05)
    to16 = lambda x: np.clip(x, 0, 10000).astype(np.uint16)  # noqa: E731
    return to16(a), to16(b), (grown * 255).astype(np.uint8)


def _write_band(path: str, band: np.ndarray) -> None:
    import rasterio

    os.makedirs(osp.dirname(path), exist_ok=True)
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        height=band.shape[0],
        width=band.shape[1],
        count=1,
        dtype=band.dtype.name,
        crs='EPSG:32631',
        transform=rasterio.Affine(10.0, 0, 600000.0, 0, -10.0, 5400000.0),
    ) as dst:
        dst.write(band[None])


def make_oscd(
    root: str,
    cities: dict[str, Sequence[str]] | None = None,
    sizes: Sequence[tuple[int, int]] = ((64, 80), (72, 64), (56, 56)),
    seed: int = 0,
) -> str:
    """OSCD: the three archives extracted in ``root`` (images with ``train.txt`` /
    ``test.txt``, ``dates.txt``, ``imgs_{1,2}_rect/B*.tif`` of 13 bands; train and test
    labels ``<city>/cm/cm.png``). City ``i`` has size ``sizes[i % len(sizes)]``."""
    cities = cities or dict(train=('abudhabi', 'beirut'), test=('dubai',))
    rng = np.random.default_rng(seed)
    images = osp.join(root, OSCD_IMAGES)
    count = 0
    for split, names in cities.items():
        os.makedirs(images, exist_ok=True)
        with open(osp.join(images, f'{split}.txt'), 'w') as f:
            f.write(','.join(names) + '\n')
        for city in names:
            a, b, label = oscd_city(sizes[count % len(sizes)], rng)
            count += 1
            for d, data in ((1, a), (2, b)):
                for band in OSCD_BAND_FILES:
                    wave = _WAVELENGTH_ORDER.index(band)
                    _write_band(osp.join(images, city, f'imgs_{d}_rect', f'{band}.tif'), data[wave])
            with open(osp.join(images, city, 'dates.txt'), 'w') as f:
                f.write('date_1: 20151126\ndate_2: 20170830\n')
            _write_png(osp.join(root, OSCD_LABELS[split], city, 'cm', 'cm.png'), label)
    return root


__all__ = ['make_levir_cd', 'make_oscd', 'levir_pair', 'oscd_city', 'OSCD_BAND_FILES']
