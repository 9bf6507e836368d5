"""Transforms of the multi-modal downstream datasets (BEN-MM, Dyna.-MM, PASTIS-MM).

A multi-modal sample holds one image per modality, each on its own grid (Planet at 3 m, S2/S1
at 10 m, HR at sub-metre), with the same ground extent (docs/multimodal.md):

    results['mm_inputs'][m]      H_m x W_m x C_m (one acquisition) or T x H_m x W_m x C_m (series)
    results['modality_mask'][m]  False when the release lacks the modality for this sample
    results['date_masks'][m]     T booleans (series): False for padded dates
    results['valid_masks'][m]    H_m x W_m (T x H_m x W_m) bool: the file holds data there
                                 (the raster package's nodata rule; 0 in mm_inputs elsewhere)
    results['doy'][m]            T date codes (series, ``date_code``), 0 for padded dates

Keys are the model's modality names (the backbone's tokenizers: ``hr``, ``s2``, ``s1``); each
names its source in the dataset's ``modalities``. Geometric transforms move every modality (and
the label) over the same ground, so all grids must be whole multiples of the coarsest one.
"""

import os.path as osp
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmskysense.registry import TRANSFORMS
from mmskysense.structures.dates import date_code
from mmskysense.structures.modalities import DETERMINISTIC_SELECTIONS, select_dates

from ..raster import (
    GroundWindowReader,
    RasterHandleCache,
    check_bands,
    combine_valid,
    fill_invalid,
    raster_bounds,
    raster_exists,
    raster_shape,
    read_raster_valid,
    values_valid,
)
from .loading import mask_label_nodata


def _choose_dates(entry: dict, dates: Sequence, num: int, select: str) -> list:
    """Indices of the dates kept (chronological): the dataset's ``select_dates`` if it gives
    them, else ``num`` of them by ``select``."""
    if entry.get('select_dates') is not None:
        keep = [int(i) for i in entry['select_dates']]
        if len(keep) > num or any(not 0 <= i < len(dates) for i in keep):
            raise ValueError(f'select_dates {keep} do not fit {len(dates)} dates (at most {num})')
        return keep
    return select_dates(len(dates), num, select)


def _resize(img: np.ndarray, size: tuple[int, int] | None, nearest: bool = False) -> np.ndarray:
    """``H x W x C`` to ``size`` (h, w) with OpenCV (area when shrinking, linear else)."""
    if size is None or tuple(img.shape[:2]) == tuple(size):
        return img
    shrink = size[0] < img.shape[0]
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    planes = [
        cv2.resize(np.ascontiguousarray(img[..., c]), (size[1], size[0]), interpolation=interp)
        for c in range(img.shape[-1])
    ]
    return np.stack(planes, axis=-1)


def _check_sar(
    img: np.ndarray, scale: str | None, source: str, valid: np.ndarray | None = None
) -> np.ndarray:
    """Bring SAR backscatter to dB (the pretraining's ``s1`` scaling) and check the claim on
    the pixels that hold data (``valid``, ``img`` without its channel axis)."""
    if scale is None:
        return img
    finite = img[np.isfinite(img)] if valid is None else img[valid]
    finite = finite[np.isfinite(finite)]
    if scale == 'db':
        # land backscatter in dB is mostly negative; no negative value means linear power
        if finite.size and finite.min() >= 0:
            raise ValueError(
                f'{source}: SAR values are all >= 0 ({finite.min():.3g}..{finite.max():.3g}), '
                f'which is linear power, not dB; set sar="linear" to convert'
            )
        return img
    if scale == 'linear':
        if finite.size and finite.min() < 0:
            raise ValueError(
                f'{source}: SAR values below 0 ({finite.min():.3g}) cannot be linear power; '
                f'the file is in dB already: set sar="db"'
            )
        out = (10.0 * np.log10(np.maximum(img, 1e-10))).astype(np.float32)
        return out if valid is None else fill_invalid(out, valid)
    raise ValueError(f'sar must be None, "db" or "linear", got {scale!r}')


@TRANSFORMS.register_module()
class LoadMultiModalImages(BaseTransform):
    """Read every modality of a multi-modal sample (``results['modalities']``, written by the
    dataset; see ``mmskysense.datasets.downstream.multimodal``).

    Args:
        modalities: modality name -> how to read it (a modality the sample neither holds nor
            declares missing is not one of the dataset's and is skipped, so one loader serves
            every modality set):

            - ``bands``: 1-based bands (channels of an ``.npy`` array) in output order;
            - ``num_bands``: channels the result must have (also the placeholder's);
            - ``out_size``: ``(h, w)`` every date is resampled to (needed for placeholders);
            - ``num_dates``: None for one acquisition; T for a series (padded / subsampled);
            - ``select``: ``'even'``, ``'last'`` or ``'first'``: dates kept of a longer series;
            - ``sar``: ``'db'`` (values are dB, checked) or ``'linear'`` (converted to dB);
            - ``resampling``: rasterio resampling of a whole-file read; a sample with a ground
              box (``window_bounds``) is read by ``GroundWindowReader``, the scene loop's
              reader (its resampling, 0 where the file holds no data).
        check_extent: georeferenced rasters must cover the same ground (the label's, or the
            first modality's) within ``extent_tolerance`` pixels of the coarser grid;
            arrays without georeferencing must have the label's size.
        extent_tolerance: see ``check_extent``.
    """

    def __init__(
        self,
        modalities: dict[str, dict],
        check_extent: bool = True,
        extent_tolerance: float = 1.0,
    ) -> None:
        if not modalities:
            raise ValueError('LoadMultiModalImages: `modalities` must name at least one')
        self.modalities = {}
        for name, spec in modalities.items():
            spec = dict(spec)
            unknown = set(spec) - {
                'bands', 'num_bands', 'out_size', 'num_dates', 'select', 'sar', 'resampling',
            }  # fmt: skip
            if unknown:
                raise ValueError(f'LoadMultiModalImages: modalities[{name!r}] has unknown keys '
                                 f'{sorted(unknown)}')  # fmt: skip
            if spec.get('select', 'even') not in DETERMINISTIC_SELECTIONS:
                raise ValueError(
                    f'modalities[{name!r}].select must be one of {DETERMINISTIC_SELECTIONS}'
                )
            self.modalities[name] = spec
        self.check_extent = check_extent
        self.extent_tolerance = extent_tolerance

    # ------------------------------------------------------------------ reading
    def _read_static(
        self, entry: dict, spec: dict, source: str
    ) -> tuple[np.ndarray, np.ndarray, str]:
        """``(H x W x C values, H x W valid, origin)``; values 0 where not valid."""
        size = spec.get('out_size')
        resampling = spec.get('resampling', 'bilinear')
        if 'band_paths' in entry:
            paths = list(entry['band_paths'])
            if size is None:
                # the finest band sets the grid (BigEarthNet 10 m bands: 120 x 120)
                size = max((raster_shape(p)[:2] for p in paths), key=lambda s: s[0] * s[1])
            reads = [read_raster_valid(p, [1], out_shape=size, resampling=resampling)
                     for p in paths]  # fmt: skip
            img = np.concatenate([r[0] for r in reads], axis=-1)
            valid = combine_valid([r[1] for r in reads])
            return fill_invalid(img, valid), valid, paths[0]
        if 'path' not in entry:
            raise KeyError(f'{source}: expected "path" or "band_paths" for one acquisition')
        path = entry['path']
        if entry.get('window_bounds') is not None:
            img, valid = self._read_ground(
                path, entry['window_bounds'], entry.get('window_crs'), spec.get('bands'), size
            )
        else:
            img, valid = read_raster_valid(
                path, spec.get('bands'), out_shape=size, resampling=resampling
            )
        return img, valid, path

    def _read_ground(
        self,
        path: str,
        bounds: Sequence[float],
        bounds_crs: str | None,
        bands: Sequence[int] | None,
        size: tuple[int, int] | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``bands`` of ``path`` over the ground box ``bounds`` (in ``bounds_crs``, default the
        file's) as ``H x W x C`` float32, through ``GroundWindowReader``; ``size`` None: the
        box's size in the file's pixels. Pixels without data are 0 (filled from the mask),
        returned with the ``H x W`` mask."""
        # the reader of pretraining crops and of the scene loop; a sample's files are opened
        # for this read only, as a whole-file read opens them
        reader = GroundWindowReader(RasterHandleCache(max_open=1), valid='all')
        try:
            return self._read_box(reader, path, bounds, bounds_crs, bands, size)
        finally:
            reader.handles.close()

    @staticmethod
    def _read_box(reader, path, bounds, bounds_crs, bands, size) -> tuple[np.ndarray, np.ndarray]:
        src = reader.handles.get(path)
        box = tuple(float(v) for v in bounds)
        if bounds_crs is not None and src.crs is not None:
            from rasterio.crs import CRS
            from rasterio.warp import transform_bounds

            if CRS.from_user_input(bounds_crs) != src.crs:
                box = transform_bounds(bounds_crs, src.crs, *box)
        bands = list(bands) if bands is not None else list(range(1, src.count + 1))
        if size is None:
            c0, r0, c1, r1 = reader.pixel_box(src, box)
            size = (max(1, round(r1 - r0)), max(1, round(c1 - c0)))
        img, valid = reader.read_image(path, bands, box, tuple(size))
        fill_invalid(img, valid, axis=0)
        return np.ascontiguousarray(img.transpose(1, 2, 0)), valid

    def _read_series(self, entry: dict, spec: dict, source: str) -> tuple[list, list, list, str]:
        """The kept dates: ``(frames H x W x C, valid H x W, dates, origin)``; frames 0 where
        not valid (an array: NaN; a raster: the raster package's nodata rule)."""
        dates = list(entry.get('dates') or [])
        size = spec.get('out_size')
        if 'array' in entry:
            path = entry['array']
            if not osp.isfile(path):
                raise FileNotFoundError(f'{source}: series file not found: {path}')
            arr = np.load(path, mmap_mode='r')
            if arr.ndim != 4:
                raise ValueError(f'{path}: expected a T x C x H x W array, got shape {arr.shape}')
            if len(dates) != arr.shape[0]:
                raise ValueError(
                    f'{path} holds {arr.shape[0]} dates but its metadata lists {len(dates)}'
                )
            keep = _choose_dates(entry, dates, spec['num_dates'], spec.get('select', 'even'))
            bands = spec.get('bands')
            if bands is not None:
                check_bands(path, arr.shape[1], bands, 'channels of its T x C x H x W array')
            imgs, valids = [], []
            for t in keep:
                frame = np.asarray(arr[t], dtype=np.float32).transpose(1, 2, 0)
                if bands is not None:
                    frame = frame[..., [b - 1 for b in bands]]
                valid = values_valid(frame)
                frame = fill_invalid(frame.copy(), valid)  # before a resize blends NaN in
                imgs.append(_resize(frame, size))
                valids.append(_resize(valid[..., None].astype(np.uint8), size, True)[..., 0] > 0)
            return imgs, valids, [dates[t] for t in keep], path
        paths = list(entry.get('paths') or [])
        if not paths:
            raise KeyError(f'{source}: a series needs "paths" or "array"')
        if dates and len(dates) != len(paths):
            raise ValueError(f'{source}: {len(paths)} files but {len(dates)} dates')
        shapes = [raster_shape(p)[:2] for p in paths]
        for p, shape in zip(paths, shapes):
            if shape != shapes[0]:
                raise ValueError(
                    f'{p} is {shape[0]} x {shape[1]} but {paths[0]}, an earlier date of the '
                    f'same series, is {shapes[0][0]} x {shapes[0][1]}'
                )
        keep = _choose_dates(entry, dates or paths, spec['num_dates'], spec.get('select', 'even'))
        reads = [
            read_raster_valid(paths[t], spec.get('bands'), out_shape=size,
                              resampling=spec.get('resampling', 'bilinear'))
            for t in keep
        ]  # fmt: skip
        imgs, valids = [r[0] for r in reads], [r[1] for r in reads]
        return imgs, valids, [dates[t] if dates else None for t in keep], paths[0]

    def _placeholder(self, name: str, spec: dict, source: str) -> np.ndarray:
        size = spec.get('out_size')
        channels = spec.get('num_bands') or (len(spec['bands']) if spec.get('bands') else None)
        if size is None or channels is None:
            raise ValueError(
                f'{source}: modality {name!r} is missing for this sample; set its out_size and '
                f'num_bands (or bands) so that it can be masked with a placeholder'
            )
        shape = (size[0], size[1], channels)
        if spec.get('num_dates'):
            shape = (spec['num_dates'],) + shape
        return np.zeros(shape, np.float32)

    # ----------------------------------------------------------------- checks
    def _check_grids(self, results: dict, origins: dict[str, str]) -> None:
        ref_path = results.get('seg_map_path')
        ref = None
        if ref_path and str(ref_path).endswith(('.tif', '.tiff')) and raster_exists(ref_path):
            ref = (ref_path, raster_bounds(ref_path))
        label = results.get('gt_seg_map')
        for name, path in origins.items():
            if path is None:
                continue
            if str(path).endswith('.npy'):
                native = np.load(path, mmap_mode='r').shape[-2:]
                if label is not None and tuple(native) != tuple(label.shape[:2]):
                    raise ValueError(
                        f'{path} is {native[0]} x {native[1]} but the label '
                        f'{ref_path or ""} is {label.shape[0]} x {label.shape[1]}'
                    )
                continue
            bounds = raster_bounds(path)
            if bounds is None:
                continue
            if ref is None:
                ref = (path, bounds)
                continue
            (ref_crs, ref_box, ref_res), (crs, box, res) = ref[1], bounds
            if crs != ref_crs:
                from rasterio.warp import transform_bounds

                box = transform_bounds(crs, ref_crs, *box)
            tol = self.extent_tolerance * max(ref_res, res)
            if max(abs(a - b) for a, b in zip(box, ref_box)) > tol:
                raise ValueError(
                    f'{path} covers {tuple(round(v, 2) for v in box)} but {ref[0]} covers '
                    f'{tuple(round(v, 2) for v in ref_box)} ({ref_crs}): the modalities of a '
                    f'sample must cover the same ground'
                )

    def transform(self, results: dict) -> dict:
        available = results.get('modalities') or {}
        declared_missing = set(results.get('missing_modalities') or ())
        where = results.get('img_path') or results.get('sample_idx')
        inputs, present, date_masks, doys, origins = {}, {}, {}, {}, {}
        valid_masks: dict[str, np.ndarray] = {}
        unknown = sorted(set(available) - set(self.modalities))
        if unknown:
            raise KeyError(
                f'{where}: the sample holds modalities {unknown} that LoadMultiModalImages is not '
                f'told how to read (it reads {list(self.modalities)})'
            )
        for name, spec in self.modalities.items():
            source = f'{where} ({name})'
            entry = available.get(name)
            if entry is None:
                if name not in declared_missing:
                    continue  # not one of this dataset's modalities
                img = self._placeholder(name, spec, source)
                inputs[name], present[name], origins[name] = img, False, None
                valid_masks[name] = np.zeros(img.shape[:-1], bool)
                if spec.get('num_dates'):
                    date_masks[name] = np.zeros(spec['num_dates'], bool)
                    doys[name] = np.zeros(spec['num_dates'], np.int64)
                continue
            if spec.get('num_dates'):
                frames, valids, dates, origin = self._read_series(entry, spec, source)
                frames = [_check_sar(f.astype(np.float32), spec.get('sar'), origin, v)
                          for f, v in zip(frames, valids)]  # fmt: skip
                num = spec['num_dates']
                real = len(frames)
                frames += [np.zeros_like(frames[0])] * (num - real)
                valids += [np.zeros_like(valids[0])] * (num - real)
                img, valid = np.stack(frames), np.stack(valids)
                date_masks[name] = np.arange(num) < real
                ref = entry.get('date_reference')
                doys[name] = np.array(
                    [date_code(d, ref, origin) if d else 0 for d in dates] + [0] * (num - real),
                    np.int64,
                )
            else:
                img, valid, origin = self._read_static(entry, spec, source)
                img = _check_sar(img.astype(np.float32), spec.get('sar'), origin, valid)
            if entry.get('norm') is not None:
                img = self._standardise(img, entry['norm'], spec.get('bands'), origin)
                fill_invalid(img, valid)  # padded dates and pixels without data stay 0
            valid_masks[name] = valid
            if spec.get('num_bands') is not None and img.shape[-1] != spec['num_bands']:
                raise ValueError(
                    f'{origin}: loaded {img.shape[-1]} bands, expected {spec["num_bands"]}'
                )
            inputs[name], present[name] = img, True
            origins[name] = None if entry.get('window_bounds') is not None else origin
        if self.check_extent:
            self._check_grids(results, origins)
        if not any(present.values()):
            raise ValueError(f'{where}: none of the modalities {list(self.modalities)} is present')
        results['mm_inputs'] = inputs
        results['valid_masks'] = valid_masks
        results['modality_mask'] = present
        results['date_masks'] = date_masks
        results['doy'] = doys
        if results.get('gt_seg_map') is not None:  # a label loaded first: its nodata too
            mask_label_nodata(
                results, results['gt_seg_map'], where=str(results.get('seg_map_path') or where)
            )
            shape = tuple(results['gt_seg_map'].shape[:2])
        else:
            shape = tuple(next(iter(inputs.values())).shape[-3:-1])
        results['img_shape'] = results['ori_shape'] = shape
        return results

    @staticmethod
    def _standardise(img: np.ndarray, norm, bands, source: str) -> np.ndarray:
        """``(x - mean) / std`` with the release's per-channel statistics ``norm``."""
        mean, std = (np.asarray(v, np.float32) for v in norm)
        if bands is not None:
            mean, std = mean[[b - 1 for b in bands]], std[[b - 1 for b in bands]]
        if mean.shape != (img.shape[-1],):
            raise ValueError(
                f'{source}: {img.shape[-1]} channels but statistics for {mean.shape[0]}'
            )
        return (img - mean) / std

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(modalities={list(self.modalities)})'


def _grids(results: dict) -> dict[str, tuple[int, int]]:
    grids = {m: tuple(img.shape[-3:-1]) for m, img in results['mm_inputs'].items()}
    if results.get('gt_seg_map') is not None:
        grids['gt_seg_map'] = tuple(results['gt_seg_map'].shape[:2])
    return grids


@TRANSFORMS.register_module()
class MultiModalRandomCrop(BaseTransform):
    """Crop every modality (and the label) over the same ground box.

    ``crop_size`` is in pixels of the reference grid (the label's, else the first modality's).
    Every grid must be a whole multiple of the coarsest, in both axes with the same factor; the
    box is drawn on the coarsest grid so that it falls on whole pixels of every grid.
    """

    def __init__(self, crop_size: tuple[int, int]) -> None:
        self.crop_size = tuple(crop_size)

    def transform(self, results: dict) -> dict:
        grids = _grids(results)
        ref = 'gt_seg_map' if 'gt_seg_map' in grids else next(iter(results['mm_inputs']))
        coarse = min(grids.values(), key=lambda g: g[0] * g[1])
        factors = {}
        for name, (h, w) in grids.items():
            if h % coarse[0] or w % coarse[1] or h // coarse[0] != w // coarse[1]:
                raise ValueError(
                    f'{results.get("img_path")}: grids {grids} are not whole multiples of the '
                    f'coarsest {coarse}; resample the modalities (out_size) so that they are'
                )
            factors[name] = h // coarse[0]
        f_ref = factors[ref]
        ch, cw = self.crop_size
        if ch % f_ref or cw % f_ref:
            raise ValueError(
                f'MultiModalRandomCrop: crop {self.crop_size} on the {ref} grid is not a whole '
                f'number of pixels of the coarsest grid {coarse} (factor {f_ref})'
            )
        ch, cw = ch // f_ref, cw // f_ref
        if ch > coarse[0] or cw > coarse[1]:
            raise ValueError(
                f'MultiModalRandomCrop: crop {self.crop_size} exceeds the {ref} grid {grids[ref]}'
            )
        y = np.random.randint(0, coarse[0] - ch + 1)
        x = np.random.randint(0, coarse[1] - cw + 1)
        for name, img in results['mm_inputs'].items():
            f = factors[name]
            results['mm_inputs'][name] = img[..., y * f : (y + ch) * f, x * f : (x + cw) * f, :]
            valid = results.get('valid_masks', {}).get(name)
            if valid is not None:
                crop = valid[..., y * f : (y + ch) * f, x * f : (x + cw) * f]
                results['valid_masks'][name] = crop
        if 'gt_seg_map' in grids:
            f = factors['gt_seg_map']
            seg = results['gt_seg_map'][y * f : (y + ch) * f, x * f : (x + cw) * f]
            results['gt_seg_map'] = seg
            results['img_shape'] = seg.shape[:2]
        return results


@TRANSFORMS.register_module()
class MultiModalRandomFlip(BaseTransform):
    """Flip every modality and the label together (``prob`` per direction)."""

    def __init__(
        self, prob: float = 0.5, directions: Sequence[str] = ('horizontal', 'vertical')
    ) -> None:
        self.prob = prob
        self.directions = tuple(directions)

    def transform(self, results: dict) -> dict:
        for direction in self.directions:
            if np.random.rand() >= self.prob:
                continue
            axis = -2 if direction == 'horizontal' else -3
            for name, img in results['mm_inputs'].items():
                results['mm_inputs'][name] = np.flip(img, axis=axis)
            for name, valid in results.get('valid_masks', {}).items():
                results['valid_masks'][name] = np.flip(valid, axis=axis + 1)
            if results.get('gt_seg_map') is not None:
                results['gt_seg_map'] = np.flip(results['gt_seg_map'], axis=axis + 1)
        return results


@TRANSFORMS.register_module()
class PackMultiModalInputs(BaseTransform):
    """``inputs``: modality -> ``C x H x W`` (or ``T x C x H x W``) float tensor; the data sample
    (mmseg's ``SegDataSample`` for ``task='seg'``, mmpretrain's ``DataSample`` for ``'cls'``)
    carries the label and, in its metainfo, ``modality_mask``, ``date_masks``, ``doy`` and
    ``valid_masks`` (``H x W`` / ``T x H x W`` bool, where the files hold data)."""

    def __init__(
        self,
        task: str = 'seg',
        meta_keys: Sequence[str] = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape'),
    ) -> None:
        if task not in ('seg', 'cls'):
            raise ValueError(f'PackMultiModalInputs: task must be "seg" or "cls", got {task!r}')
        self.task = task
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        inputs = {}
        for name, img in results['mm_inputs'].items():
            arr = np.ascontiguousarray(np.moveaxis(img, -1, -3), dtype=np.float32)
            inputs[name] = torch.from_numpy(arr)
        meta = {k: results[k] for k in self.meta_keys if k in results}
        meta.update(
            modality_mask=dict(results['modality_mask']),
            date_masks={k: np.asarray(v) for k, v in results['date_masks'].items()},
            doy={k: np.asarray(v) for k, v in results['doy'].items()},
            valid_masks={
                k: np.ascontiguousarray(v) for k, v in results.get('valid_masks', {}).items()
            },
        )
        if self.task == 'seg':
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample

            sample = SegDataSample()
            if results.get('gt_seg_map') is not None:
                seg = np.ascontiguousarray(results['gt_seg_map']).astype(np.int64)
                sample.gt_sem_seg = PixelData(data=torch.from_numpy(seg)[None])
        else:
            from mmpretrain.structures import DataSample

            sample = DataSample()
            if 'gt_label' in results:
                sample.set_gt_label(results['gt_label'])
        sample.set_metainfo(meta)
        return dict(inputs=inputs, data_samples=sample)
