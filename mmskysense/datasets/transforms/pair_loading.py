"""Loading the two dates of a change-detection sample and its binary change label.

A pair travels through the pipeline as ONE image whose channels are the two dates stacked
date-major (``H x W x (2*C)``: date 1's bands, then date 2's), the convention of the time series
(``LoadTimeSeries``). Every geometric transform of mmcv/mmseg (flip, crop, rotate, resize) then
moves both dates with the same draw, the packers and data preprocessors work unchanged, and the
change detector splits the channels back into dates (docs/interfaces.md, "Image pairs").
"""

import os.path as osp
from collections.abc import Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from mmskysense.registry import TRANSFORMS

from ..raster import combine_valid, fill_invalid, raster_exists, read_raster_valid
from .loading import mask_label_nodata, set_image_valid

#: formats read with OpenCV (8-bit RGB photos such as LEVIR-CD's PNGs); the rest with rasterio
_IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')

DateSource = str | Sequence[str]


def _describe(source: DateSource) -> str:
    if isinstance(source, str):
        return source
    source = list(source)
    return f'{osp.dirname(source[0])}/{{{", ".join(osp.basename(p) for p in source)}}}'


def _read_photo(path: str, color_type: str) -> np.ndarray:
    import mmcv

    if not osp.isfile(path):
        raise FileNotFoundError(f'image file not found: {path}')
    img = mmcv.imread(path, flag=color_type, channel_order='rgb')
    if img is None:
        raise ValueError(f'cannot decode image file {path}')
    return img if img.ndim == 3 else img[..., None]


def read_date(
    source: DateSource, bands: Sequence[int] | None = None, color_type: str = 'color'
) -> tuple[np.ndarray, np.ndarray]:
    """One date as ``H x W x C`` and where it holds data (``H x W``; the raster package's
    nodata rule, values 0 elsewhere): one file (all bands or 1-based ``bands``), or one file
    per band. A PNG / JPEG photo declares no nodata: all of it is data.

    Per-band files (OSCD's ``imgs_1_rect/B02.tif`` ...) must share one grid: they are stacked in
    the given order, and a file whose size differs is an error naming it.
    """
    if isinstance(source, str):
        if source.lower().endswith(_IMAGE_SUFFIXES) and bands is None:
            img = _read_photo(source, color_type)
            return img, np.ones(img.shape[:2], bool)
        return read_raster_valid(source, bands=bands)
    planes: list[np.ndarray] = []
    valids: list[np.ndarray] = []
    for path in source:
        plane, ok = read_raster_valid(path, bands=[1])
        if planes and plane.shape[:2] != planes[0].shape[:2]:
            raise ValueError(
                f'band file {path} is {plane.shape[0]}x{plane.shape[1]}, but '
                f'{source[0]} is {planes[0].shape[0]}x{planes[0].shape[1]}: the '
                'band files of one date must share a grid'
            )
        planes.append(plane)
        valids.append(ok)
    if not planes:
        raise ValueError('a date given as a list of band files needs at least one file')
    valid = combine_valid(valids)
    return fill_invalid(np.concatenate(planes, axis=-1), valid), valid


@TRANSFORMS.register_module()
class LoadImagePair(BaseTransform):
    """Read the two dates of ``results['img_paths']`` into one date-major stacked image.

    Each entry of ``img_paths`` (length 2, chronological) is a file path, or a list of
    single-band files of that date. PNG/JPEG files are read with OpenCV as RGB; other formats
    (GeoTIFF ...) with rasterio, any number of bands. The two dates must have the same size and
    the same number of bands; otherwise the error names both files.

    Adds ``img`` (``H x W x 2C``, float32 unless ``to_float32=False``; 0 where a date holds no
    data), ``img_valid`` (both dates hold data), ``img_shape``, ``ori_shape``, ``num_dates``
    (2) and ``bands_per_date`` (C).

    Args:
        bands: 1-based bands to read from multi-band raster files (None: all).
        num_bands: when given, each date must have exactly this many bands.
        color_type: OpenCV flag for PNG/JPEG (``'color'``: 3-band RGB).
        to_float32: cast to float32.
    """

    def __init__(
        self,
        bands: Sequence[int] | None = None,
        num_bands: int | None = None,
        color_type: str = 'color',
        to_float32: bool = True,
    ) -> None:
        self.bands = list(bands) if bands is not None else None
        self.num_bands = num_bands
        self.color_type = color_type
        self.to_float32 = to_float32

    def transform(self, results: dict) -> dict:
        sources = results.get('img_paths')
        if sources is None or len(sources) != 2:
            raise KeyError(
                f'LoadImagePair needs "img_paths" with two dates, got {sources!r} '
                f'(sample {results.get("sample_idx")})'
            )
        reads = [read_date(s, self.bands, self.color_type) for s in sources]
        dates = [r[0] for r in reads]
        names = [_describe(s) for s in sources]
        (h1, w1, c1), (h2, w2, c2) = dates[0].shape, dates[1].shape
        if (h1, w1) != (h2, w2):
            raise ValueError(
                f'the two dates differ in size: {names[0]} is {h1}x{w1}, {names[1]} is {h2}x{w2}'
            )
        if c1 != c2:
            raise ValueError(
                f'the two dates differ in band count: {names[0]} has {c1}, {names[1]} has {c2}'
            )
        if self.num_bands is not None and c1 != self.num_bands:
            raise ValueError(f'{names[0]}: loaded {c1} bands per date, expected {self.num_bands}')
        valid = combine_valid([r[1] for r in reads])
        img = fill_invalid(np.concatenate(dates, axis=-1), valid)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        set_image_valid(results, valid)
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        results['num_dates'] = 2
        results['bands_per_date'] = c1
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(bands={self.bands}, num_bands={self.num_bands}, '
            f'color_type={self.color_type!r})'
        )


@TRANSFORMS.register_module()
class LoadBinaryChangeLabel(BaseTransform):
    """Read a binary change mask (``results['seg_map_path']``) into ``gt_seg_map`` as 0/1.

    LEVIR-CD and OSCD store change as 255 and no change as 0 in a PNG (grey, or RGB with equal
    channels). Any other value is an error naming the file and the values found (a resampled or
    colour-coded mask must not be read as change). With ``check_size`` the mask must have the
    size of the loaded pair. Pixels where the mask raster has no data (its nodata value or
    mask) or the pair has none (``img_valid``: either date) get 255, ignored.

    Args:
        values: ``(unchanged, changed)`` pixel values of the file.
        check_size: the mask must match ``results['img_shape']`` (call after the image loader).
    """

    def __init__(self, values: tuple[int, int] = (0, 255), check_size: bool = True) -> None:
        if len(values) != 2 or values[0] == values[1]:
            raise ValueError(
                f'values must be two distinct (unchanged, changed) values, got {values!r}'
            )
        self.values = tuple(int(v) for v in values)
        self.check_size = check_size

    def _read(self, path: str) -> tuple[np.ndarray, np.ndarray | None]:
        if not raster_exists(path):
            raise FileNotFoundError(f'change label not found: {path}')
        if path.lower().endswith(_IMAGE_SUFFIXES):
            import mmcv

            mask = mmcv.imread(path, flag='unchanged')
            if mask is None:
                raise ValueError(f'cannot decode change label {path}')
            valid = None
        else:
            mask, valid = read_raster_valid(path, fill=None)
        if mask.ndim == 3:
            if mask.shape[-1] == 4:  # an alpha channel carries no class
                mask = mask[..., :3]
            if mask.shape[-1] > 1 and (mask != mask[..., :1]).any():
                raise ValueError(
                    f'change label {path} has {mask.shape[-1]} channels that '
                    f'differ: expected a grey mask of {self.values}'
                )
            mask = mask[..., 0]
        if valid is not None:
            mask = np.where(valid, mask, np.asarray(self.values[0], mask.dtype))
        return mask, valid

    def transform(self, results: dict) -> dict:
        path = results['seg_map_path']
        mask, own_valid = self._read(path)
        found = np.unique(mask)
        bad = np.setdiff1d(found, self.values)
        if bad.size:
            raise ValueError(
                f'change label {path} holds values {bad.tolist()[:10]}; expected '
                f'only {self.values[0]} (unchanged) and {self.values[1]} (changed)'
            )
        if (
            self.check_size
            and 'img_shape' in results
            and tuple(mask.shape) != tuple(results['img_shape'][:2])
        ):
            raise ValueError(
                f'change label {path} is {mask.shape[0]}x{mask.shape[1]}, the '
                f'images are {results["img_shape"][0]}x{results["img_shape"][1]}'
            )
        seg = (mask == self.values[1]).astype(np.uint8)
        results['gt_seg_map'] = mask_label_nodata(results, seg, own_valid, where=path)
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(values={self.values}, check_size={self.check_size})'
