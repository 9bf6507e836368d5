"""Loading transforms for rasters (rasterio): multispectral images, time series, one-hot and
class-index label rasters.

Everything is returned channels-last so that the libraries' geometric transforms (flip, crop,
resize) and packers (``mmseg.PackSegInputs``, ``mmpretrain.PackInputs``) handle it unchanged.
A time series of ``T`` dates with ``C`` bands becomes ``H x W x (T*C)`` (date-major) with a
``date_mask`` of ``T`` booleans; the temporal model wrappers fold it back to ``T x C``.

Nodata (the raster package's one rule, ``read_raster_valid``): image loaders put 0 where the
file holds no data and record ``img_valid`` (``H x W`` bool on the loaded grid); label loaders,
which come before any geometric transform, give the ignore index where the label raster has no
data or the image has none (``mask_label_nodata``).
"""

from collections.abc import Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmskysense.registry import TRANSFORMS
from mmskysense.structures.modalities import DETERMINISTIC_SELECTIONS, select_dates

from ..raster import (
    IGNORE_INDEX,
    combine_valid,
    fill_invalid,
    ignore_invalid,
    label_valid,
    raster_shape,
    read_raster_valid,
)


def _as_float(img: np.ndarray, to_float32: bool) -> np.ndarray:
    return img.astype(np.float32) if to_float32 else img


def set_image_valid(results: dict, valid: np.ndarray) -> None:
    """Record where the loaded image holds data (``img_valid``, ``H x W`` bool, on the grid of
    the loaded image): the label loader that follows reads it (before any geometric
    transform, as every pipeline orders them; mmcv's flips and resizes do not move it)."""
    results['img_valid'] = np.ascontiguousarray(valid, dtype=bool)


def _nearest(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if tuple(mask.shape) == tuple(shape):
        return mask
    out = cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return out > 0


def image_valid(results: dict, shape: tuple[int, int]) -> np.ndarray | None:
    """Where the loaded image holds data, on a label grid of ``shape``: ``img_valid`` (a single
    image, which must have the label's size), or, for a multi-modal sample, the pixels where
    some present modality holds data on some date (each mask by nearest neighbour to the
    label's grid: the modalities cover the same ground). None when no image was loaded."""
    if results.get('img_valid') is not None:
        return np.asarray(results['img_valid']).astype(bool)
    masks = results.get('valid_masks')
    if not masks:
        return None
    present = results.get('modality_mask') or {}
    out = np.zeros(shape, bool)
    for name, valid in masks.items():
        if present.get(name, True):
            out |= _nearest(valid if valid.ndim == 2 else valid.any(axis=0), shape)
    return out


def mask_label_nodata(
    results: dict,
    seg: np.ndarray,
    own_valid: np.ndarray | None = None,
    ignore_index: int = IGNORE_INDEX,
    where: str = '',
) -> np.ndarray:
    """The label side of the one nodata rule: ``ignore_index`` where the label raster has no
    data (``own_valid``) or the loaded image has none (``image_valid``); in place."""
    ignore_invalid(seg, own_valid, ignore_index, where)
    return ignore_invalid(seg, image_valid(results, seg.shape[:2]), ignore_index, where)


@TRANSFORMS.register_module()
class LoadMultiBandImage(BaseTransform):
    """Read a multispectral image with rasterio into ``results['img']`` (``H x W x C``).

    Reads ``results['img_path']`` (one multi-band file) or, when present,
    ``results['band_paths']`` (one single-band file per band, possibly at different ground
    resolutions, as BigEarthNet ships them). Per-band files are resampled to ``out_size`` or,
    when None, to the finest grid among them.

    Args:
        bands: 1-based bands to keep from a multi-band file, in output order (None: all).
        num_bands: when given, the loaded image must have this many channels.
        out_size: ``(h, w)`` to resample to on read, None to keep the file's grid.
        resampling: rasterio resampling for resizing on read.
        to_float32: cast to float32 (reflectances are usually uint16).
    """

    def __init__(
        self,
        bands: Sequence[int] | None = None,
        num_bands: int | None = None,
        out_size: tuple[int, int] | None = None,
        resampling: str = 'bilinear',
        to_float32: bool = True,
    ) -> None:
        self.bands = list(bands) if bands is not None else None
        self.num_bands = num_bands
        self.out_size = tuple(out_size) if out_size is not None else None
        self.resampling = resampling
        self.to_float32 = to_float32

    def _read_band_files(self, paths: list[str]) -> np.ndarray:
        shape = self.out_size
        if shape is None:
            # the finest band sets the grid (10 m bands of BigEarthNet: 120 x 120)
            shapes = [raster_shape(p)[:2] for p in paths]
            shape = max(shapes, key=lambda s: s[0] * s[1])
        reads = [
            read_raster_valid(p, bands=[1], out_shape=shape, resampling=self.resampling)
            for p in paths
        ]
        valid = combine_valid([r[1] for r in reads])
        return fill_invalid(np.concatenate([r[0] for r in reads], axis=-1), valid), valid

    def transform(self, results: dict) -> dict:
        if results.get('band_paths'):
            img, valid = self._read_band_files(list(results['band_paths']))
            source = results['band_paths'][0]
        else:
            if 'img_path' not in results:
                raise KeyError('LoadMultiBandImage needs "img_path" or "band_paths" in results')
            source = results['img_path']
            img, valid = read_raster_valid(
                source, bands=self.bands, out_shape=self.out_size, resampling=self.resampling
            )
        if self.num_bands is not None and img.shape[-1] != self.num_bands:
            raise ValueError(f'{source}: loaded {img.shape[-1]} bands, expected {self.num_bands}')
        img = _as_float(img, self.to_float32)
        results['img'] = img
        set_image_valid(results, valid)
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(bands={self.bands}, num_bands={self.num_bands}, '
            f'out_size={self.out_size})'
        )


@TRANSFORMS.register_module()
class LoadTimeSeries(BaseTransform):
    """Read a series of multi-band files (``results['img_paths']``, chronological) as one image.

    The output ``results['img']`` is ``H x W x (T*C)`` with ``T = num_dates``: series longer than
    ``num_dates`` are subsampled, shorter ones are padded with zero dates whose
    ``results['date_mask']`` entry is False. Every date is resampled to ``out_size`` (or the
    first date's grid), since acquisitions of one location need not share a raster grid.

    Args:
        num_dates: fixed number of dates after padding/subsampling.
        bands: 1-based bands to keep from each file.
        num_bands: when given, each date must yield this many channels.
        out_size: ``(h, w)`` of every date.
        select: how to subsample a longer series: ``'last'`` (the latest dates, e.g. months up to
            a target month), ``'first'``, or ``'even'`` (evenly spread over the whole series).
        resampling: rasterio resampling for resizing on read.
    """

    SELECT = DETERMINISTIC_SELECTIONS

    def __init__(
        self,
        num_dates: int,
        bands: Sequence[int] | None = None,
        num_bands: int | None = None,
        out_size: tuple[int, int] | None = None,
        select: str = 'even',
        resampling: str = 'bilinear',
    ) -> None:
        if num_dates < 1:
            raise ValueError(f'num_dates must be >= 1, got {num_dates}')
        if select not in self.SELECT:
            raise ValueError(f'select must be one of {self.SELECT}, got {select!r}')
        self.num_dates = num_dates
        self.bands = list(bands) if bands is not None else None
        self.num_bands = num_bands
        self.out_size = tuple(out_size) if out_size is not None else None
        self.select = select
        self.resampling = resampling

    def _choose(self, paths: list[str]) -> list[str]:
        return [paths[i] for i in select_dates(len(paths), self.num_dates, self.select)]

    def transform(self, results: dict) -> dict:
        paths = list(results.get('img_paths') or [])
        if not paths:
            raise KeyError(f'LoadTimeSeries: sample {results.get("sample_idx")} has no "img_paths"')
        paths = self._choose(paths)
        shape = self.out_size
        dates = []
        valid = None  # some real date holds data
        for path in paths:
            img, ok = read_raster_valid(
                path, bands=self.bands, out_shape=shape, resampling=self.resampling
            )
            valid = ok if valid is None else valid | ok
            if self.num_bands is not None and img.shape[-1] != self.num_bands:
                raise ValueError(f'{path}: loaded {img.shape[-1]} bands, expected {self.num_bands}')
            shape = img.shape[:2]
            dates.append(img.astype(np.float32))
        num_real = len(dates)
        pad = np.zeros_like(dates[0])
        dates.extend([pad] * (self.num_dates - num_real))
        results['img'] = np.concatenate(dates, axis=-1)
        results['date_mask'] = np.arange(self.num_dates) < num_real
        set_image_valid(results, valid)
        results['num_dates'] = self.num_dates
        results['img_shape'] = shape
        results['ori_shape'] = shape
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(num_dates={self.num_dates}, bands={self.bands}, '
            f'out_size={self.out_size}, select={self.select!r})'
        )


@TRANSFORMS.register_module()
class LoadOneHotLabel(BaseTransform):
    """Read a label raster with one band per class (255 = member) into ``gt_seg_map``.

    DynamicEarthNet ships its monthly labels this way (7 bands). Classes listed in
    ``ignore_classes`` (snow & ice in the official evaluation) become ``ignore_index``; the
    remaining classes are renumbered 0..K-1 in band order. A pixel claimed by several bands takes
    the last one, as in the authors' loader.

    Pixels that no band claims get ``unclaimed_index`` (default: ``ignore_index``). The authors'
    loader (``data/utae_dynamicen.py``) starts from ``np.zeros`` and so gives them class 0
    (impervious surface); that is an initial value, not an annotation, and would train and score
    unlabelled pixels as impervious surface, so they are ignored here. ``unclaimed_index=0``
    reproduces the authors' numbers.

    Args:
        num_classes: number of bands the label file must have.
        ignore_classes: 0-based band indices mapped to ``ignore_index``.
        ignore_index: value for ignored pixels.
        unclaimed_index: value for pixels no band claims (None: ``ignore_index``).
        out_size: ``(h, w)`` to resample to (nearest), None for the file's grid.
    """

    def __init__(
        self,
        num_classes: int = 7,
        ignore_classes: Sequence[int] = (6,),
        ignore_index: int = 255,
        unclaimed_index: int | None = None,
        out_size: tuple[int, int] | None = None,
    ) -> None:
        self.num_classes = num_classes
        self.ignore_classes = tuple(ignore_classes)
        self.ignore_index = ignore_index
        self.unclaimed_index = ignore_index if unclaimed_index is None else unclaimed_index
        self.out_size = tuple(out_size) if out_size is not None else None
        kept = [c for c in range(num_classes) if c not in self.ignore_classes]
        self.lut = {c: i for i, c in enumerate(kept)}

    def transform(self, results: dict) -> dict:
        path = results['seg_map_path']
        onehot, own_valid = read_raster_valid(
            path,
            out_shape=self.out_size,
            resampling='nearest',
            expected_count=self.num_classes,
            fill=None,
        )
        seg = np.full(onehot.shape[:2], self.unclaimed_index, dtype=np.uint8)
        for band in range(self.num_classes):
            member = onehot[..., band] == 255
            seg[member] = self.lut.get(band, self.ignore_index)
        results['gt_seg_map'] = mask_label_nodata(results, seg, own_valid, self.ignore_index, path)
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(num_classes={self.num_classes}, '
            f'ignore_classes={self.ignore_classes}, unclaimed_index={self.unclaimed_index}, '
            f'out_size={self.out_size})'
        )


@TRANSFORMS.register_module()
class LoadSegMapFromRaster(BaseTransform):
    """Read ``results['seg_map_path']`` (one band of class indices) with rasterio.

    Pixels where the label raster has no data (its nodata value or mask), or the image has
    none (``img_valid`` of the image loader; else, with ``mask_image_nodata``, read from
    ``results['img_path']`` by the same rule: some band without data) get ``ignore_index``: a
    label over a hole in the image is not evidence the model can use, and must not count in
    the loss or the metric.

    Args:
        ignore_index: the label of unlabelled pixels (mmseg's default 255).
        mask_image_nodata: set the label to ``ignore_index`` where the image has no data.
        num_classes: when given, labels other than ``0..num_classes-1`` and ``ignore_index``
            raise an error naming the file.
    """

    def __init__(
        self,
        ignore_index: int = 255,
        mask_image_nodata: bool = True,
        num_classes: int | None = None,
    ) -> None:
        self.ignore_index = ignore_index
        self.mask_image_nodata = mask_image_nodata
        self.num_classes = num_classes

    def transform(self, results: dict) -> dict:
        path = results.get('seg_map_path')
        if path is None:
            raise KeyError('LoadSegMapFromRaster needs "seg_map_path" in results')
        count = raster_shape(path)[2]
        if count != 1:
            raise ValueError(f'{path} has {count} bands, expected 1 band of class indices')
        seg, own_valid = label_valid(path)
        seg = seg.astype(np.int64)
        seg[~own_valid] = self.ignore_index  # its nodata value is no class
        if self.num_classes is not None:
            bad = np.setdiff1d(np.unique(seg), list(range(self.num_classes)) + [self.ignore_index])
            if bad.size:
                raise ValueError(
                    f'{path} has labels {bad.tolist()[:10]} outside 0..'
                    f'{self.num_classes - 1} and the ignore index {self.ignore_index}'
                )
        if self.mask_image_nodata:
            if results.get('img_valid') is None and results.get('img_path'):
                img_path = results['img_path']
                h, w = raster_shape(img_path)[:2]
                if (h, w) != seg.shape:
                    raise ValueError(
                        f'{path} is {seg.shape[0]}x{seg.shape[1]} but the image '
                        f'{img_path} is {h}x{w}'
                    )
                valid = read_raster_valid(img_path, fill=None)[1]
                seg = ignore_invalid(seg, valid, self.ignore_index, path)
            else:
                seg = mask_label_nodata(results, seg, None, self.ignore_index, path)
        results['gt_seg_map'] = seg.astype(np.uint8) if seg.max() < 256 else seg
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results
