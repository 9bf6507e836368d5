"""Geo-aligned multi-crop: 2 global and n local views, each a window on the ground.

A view is a ground box in the sample's CRS. Every modality reads its own pixels for that box
through its own geotransform (``GroundWindowReader``, the scene loop's reader too), so the HR
view (~0.3 m) and the S2/S1 views (10 m) of one view cover the same ground. Boxes follow DINO's
random-resized-crop (area fraction and aspect ratio), snapped to the HR pixel grid so that the
HR crop is whole pixels.
"""

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from mmcv.transforms import BaseTransform

from mmskysense.registry import TRANSFORMS
from mmskysense.structures.modalities import is_series, modality, modality_names, series_names

from ..geo.scaling import ModalityScaling, build_scaling
from ..raster import Box, GeoSampleError, GroundWindowReader, RasterHandleCache, gdal_cache

SizeCfg = int | Mapping[str, int]


def _size_dict(size: SizeCfg, hr_default: int, name: str) -> dict[str, int]:
    """View size per modality: the HR size, and for every other modality of the table the HR
    size over its ground sampling ratio (the contract hg = Hg // 8 for S2/S1), unless given."""
    hr = size if isinstance(size, int) else size.get('hr', hr_default)
    out = {m: max(1, hr // modality(m).gsd_ratio) for m in modality_names()}
    if not isinstance(size, int):
        out.update(size)
    for key, value in out.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f'{name}[{key!r}] must be a positive int, got {value!r}')
    return out


def _files(results: dict, name: str) -> list[str]:
    """The files of modality ``name`` a sample has for this draw (a series: its sampled
    frames), in order, without repeats."""
    if is_series(name):
        frames = results['frames'].get(name) or []
        return list(dict.fromkeys(f['path'] for f in frames if f is not None))
    entry = results.get(name)
    return [entry['path']] if entry else []


def _masked(name: str, size: tuple[int, int], frames: dict) -> tuple[np.ndarray, np.ndarray]:
    """A modality the sample lacks: zeros, nothing valid (a series: every date padded)."""
    lead = (len(frames.get(name) or []),) if is_series(name) else ()
    channels = modality(name).channels
    return (
        np.zeros(lead + (channels,) + size, dtype=np.float32),
        np.zeros(lead + size, dtype=bool),
    )


def sample_ground_box(
    region: Box,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    grid_origin: tuple[float, float],
    grid_res: tuple[float, float],
    rng: Any = np.random,
) -> Box:
    """A random box inside ``region`` of ``scale`` area fraction and ``ratio`` (w / h), its
    edges on the grid ``origin + i * res`` (the HR pixel grid)."""
    minx, miny, maxx, maxy = region
    # whole grid cells inside the region
    ox, oy = grid_origin
    rx, ry = grid_res
    c_lo = math.ceil((minx - ox) / rx - 1e-6)
    c_hi = math.floor((maxx - ox) / rx + 1e-6)
    r_lo = math.ceil((oy - maxy) / ry - 1e-6)
    r_hi = math.floor((oy - miny) / ry + 1e-6)
    width, height = c_hi - c_lo, r_hi - r_lo
    if width < 1 or height < 1:
        raise GeoSampleError(f'the sample region {region} holds no whole HR pixel')
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            break
    else:  # the region is too elongated for the ratio: the largest centred square-ish box
        w = h = min(width, height)
    c0 = c_lo + int(rng.randint(0, width - w + 1))
    r0 = r_lo + int(rng.randint(0, height - h + 1))
    return (ox + c0 * rx, oy - (r0 + h) * ry, ox + (c0 + w) * rx, oy - r0 * ry)


@TRANSFORMS.register_module()
class GeoMultiCrop(BaseTransform):
    """Sample global and local ground boxes and read every modality's pixels for them.

    Required keys: ``sample_id``, ``crs``, ``bounds``, ``hr``, ``osm`` (index entry) and
    ``frames`` (from ``SampleTemporalFrames``).
    Added key ``views``: ``dict(global_views=[view, ...], local_views=[...])``, each view a record
    with the batch's names (docs/interfaces.md): ``images`` (modality -> float32
    ``C x H x W``, a series ``K x C x h x w``), ``valid_masks`` (modality -> bool ``H x W`` /
    ``K x h x w``, False for nodata and padded dates), ``view_boxes`` (float64[4]),
    ``view_geo_ops`` (int64[3], zeros) and ``osm_label`` (int64[H, W], 255 = unlabelled) when
    the sample has a label raster.

    Args:
        modalities: the modalities to read, in this order (None: every modality of the
            table, ``mmskysense.structures.modalities``); the others are not opened.
        missing_modality: a sample without one of ``modalities`` (no file, no dates):
            ``'mask'`` gives it zeros, ``valid_masks`` False and, for a series, padded dates
            (as the downstream multi-modal models mask a missing modality); ``'error'``
            refuses the sample with a ``GeoSampleError`` naming its files. docs/data_format.md,
            "Samples without a modality".
        num_global / num_local: numbers of views (paper: 2 and 6).
        global_size / local_size: output size per modality (an int is the HR size, MS = HR // 8).
        global_scale / local_scale: area fraction of the sample region per view.
        ratio: aspect ratio range (width / height) of the ground box.
        scaling: per-modality ``ModalityScaling`` overrides (docs/data_format.md).
        read_mode: per modality ``'window'`` (read only each box) or ``'whole'``.
        max_crop_tries: new boxes drawn for a view that holds no valid pixel in a modality
            before the sample is reported as all-nodata.
        use_overviews: in ``'window'`` mode, read a view that is shrunk by 2 or more from the
            file's internal overviews (COG-style), through the overview's own geotransform.
        prefetch_series: in ``'window'`` mode, read each S2/S1 frame once over the union of
            the views instead of once per view.
        max_open_files: per-process limit of open rasterio datasets.
        max_block_samples: the most pixels per side averaged into one anti-aliasing block of
            a shrunk view; wider blocks are averaged over that many, by a decimated read, so
            the memory of a view is bounded by its size whatever the raster's size.
        read_budget_mb: the most memory one read may take; a sample that needs more (a huge
            view, ``'whole'`` mode on a huge raster) is refused before anything is allocated.
        gdal_cache_mb: GDAL's block cache while a sample is read (its default, 5% of RAM,
            fills up with every pixel decoded).
    """

    def __init__(
        self,
        modalities: Sequence[str] | None = None,
        missing_modality: str = 'mask',
        num_global: int = 2,
        num_local: int = 6,
        global_size: SizeCfg = 224,
        local_size: SizeCfg = 96,
        global_scale: tuple[float, float] = (0.4, 1.0),
        local_scale: tuple[float, float] = (0.05, 0.4),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        scaling: Mapping[str, Any] | None = None,
        read_mode: Mapping[str, str] | None = None,
        max_crop_tries: int = 10,
        use_overviews: bool = True,
        prefetch_series: bool = True,
        max_open_files: int = 128,
        max_block_samples: int = 8,
        read_budget_mb: float = 512,
        gdal_cache_mb: int = 64,
    ) -> None:
        if num_global < 1 or num_local < 0:
            raise ValueError(
                f'need num_global >= 1 and num_local >= 0, got {num_global}, {num_local}'
            )
        for name, rng_ in (('global_scale', global_scale), ('local_scale', local_scale)):
            if not 0 < rng_[0] <= rng_[1] <= 1:
                raise ValueError(f'{name} must satisfy 0 < low <= high <= 1, got {rng_}')
        # what the recipe trains, and all that is read (None: every modality of the table)
        self.modalities = modality_names(modalities)
        if missing_modality not in ('mask', 'error'):
            raise ValueError(
                f"missing_modality must be 'mask' or 'error', got {missing_modality!r}"
            )
        self.missing_modality = missing_modality
        self.num_global = num_global
        self.num_local = num_local
        self.global_size = _size_dict(global_size, 224, 'global_size')
        self.local_size = _size_dict(local_size, 96, 'local_size')
        self.global_scale = tuple(global_scale)
        self.local_scale = tuple(local_scale)
        self.ratio = tuple(ratio)
        self.scaling: dict[str, ModalityScaling] = build_scaling(scaling)
        self.read_mode = {m: 'window' for m in modality_names() + ('osm',)}
        self.read_mode.update(read_mode or {})
        self.max_crop_tries = max_crop_tries
        self.use_overviews = use_overviews
        self.prefetch_series = prefetch_series
        self.max_block_samples = max_block_samples
        self.read_budget_mb = read_budget_mb
        self.gdal_cache_mb = gdal_cache_mb
        # opened lazily in whichever process reads (fork-safe, see mmskysense.datasets.raster.cache)
        self.handles = RasterHandleCache(max_open_files)

    def view_plan(self) -> list[tuple[str, int, tuple[float, float], dict[str, int]]]:
        """``(group name, index, area scale range, sizes)`` of every view, globals first."""
        plan = [
            ('global view', v, self.global_scale, self.global_size) for v in range(self.num_global)
        ]
        plan += [
            ('local view', v, self.local_scale, self.local_size) for v in range(self.num_local)
        ]
        return plan

    def _readers(self) -> dict[str, GroundWindowReader]:
        return {
            name: GroundWindowReader(
                self.handles,
                mode,
                self.use_overviews,
                self.max_block_samples,
                self.read_budget_mb,
                valid='all',
            )
            for name, mode in self.read_mode.items()
        }

    def _read_view(
        self,
        results: dict,
        readers: dict[str, GroundWindowReader],
        box: Box,
        sizes: dict[str, int],
        present: tuple[str, ...],
    ) -> dict[str, Any]:
        """One view record (docs/interfaces.md): every modality's pixels for ``box``."""
        crs = results['crs']
        images: dict[str, np.ndarray] = {}
        valid_masks: dict[str, np.ndarray] = {}
        for name in self.modalities:
            size = (sizes[name], sizes[name])
            if name not in present:  # masked: no data, as a padded date
                images[name], valid_masks[name] = _masked(name, size, results['frames'])
                continue
            if not is_series(name):
                src = results[name]
                img, ok = readers[name].read_image(src['path'], src['bands'], box, size, crs)
                images[name], valid_masks[name] = self.scaling[name].apply(img, ok), ok
                continue
            frames = results['frames'][name]
            stack, valid = [], []
            for frame in frames:
                if frame is None:
                    continue
                img, ok = readers[name].read_image(frame['path'], frame['bands'], box, size, crs)
                stack.append(self.scaling[name].apply(img, ok))
                valid.append(ok)
            channels = stack[0].shape[0]
            data = np.zeros((len(frames), channels) + size, dtype=np.float32)
            mask = np.zeros((len(frames),) + size, dtype=bool)
            data[: len(stack)] = np.stack(stack)
            mask[: len(valid)] = np.stack(valid)
            images[name], valid_masks[name] = data, mask
        view: dict[str, Any] = dict(
            images=images,
            valid_masks=valid_masks,
            view_boxes=np.asarray(box, dtype=np.float64),
            view_geo_ops=np.zeros(3, dtype=np.int64),
        )
        if results.get('osm') is not None:
            osm = results['osm']
            view['osm_label'] = readers['osm'].read_label(
                osm['path'], osm['bands'], box, (sizes['hr'], sizes['hr']), crs
            )
        return view

    @staticmethod
    def _empty_modality(view: dict[str, Any], present: tuple[str, ...]) -> str | None:
        for name in present:
            if not view['valid_masks'][name].any():
                return name
        return None

    def _prefetch_series(
        self, results: dict, readers: dict[str, GroundWindowReader], boxes: list[Box]
    ) -> None:
        """Read each sampled S2/S1 frame once over the union of the views: the frames are
        small (64 x 64) and every view needs most of them, so one read beats one per view."""
        union = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        for name in series_names(self.modalities):
            if self.read_mode[name] != 'window' or name not in results['frames']:
                continue
            for frame in results['frames'][name]:
                if frame is not None:
                    readers[name].prefetch(frame['path'], frame['bands'], union, results['crs'])

    def _present(self, results: dict) -> tuple[str, ...]:
        """The recipe's modalities the sample has; the policy for the others."""
        present = tuple(m for m in self.modalities if _files(results, m))
        missing = [m for m in self.modalities if m not in present]
        if missing and (self.missing_modality == 'error' or not present):
            held = [f for m in modality_names() for f in _files(results, m)]
            raise GeoSampleError(
                f'has no {", ".join(missing)} (its files: '
                f'{", ".join(held) or "none"}); the recipe reads {list(self.modalities)} '
                + (
                    "with GeoMultiCrop(missing_modality='error'); mask it with 'mask' or "
                    'leave the sample out of the index (build_geo_index(required=...))'
                    if present
                    else 'and the sample has none of them'
                ),
                path=held[0] if held else None,
                sample_id=results.get('sample_id'),
            )
        return present

    def transform(self, results: dict) -> dict:
        if 'frames' not in results:
            raise KeyError('GeoMultiCrop needs "frames": put SampleTemporalFrames before it')
        with gdal_cache(self.gdal_cache_mb):
            return self._crop(results)

    def _crop(self, results: dict) -> dict:
        sample_id = results.get('sample_id')
        readers = self._readers()
        present = self._present(results)
        # boxes snap to the pixel grid of the finest modality the sample has (HR when present)
        finest = min(present, key=lambda m: modality(m).gsd_ratio)
        t = self.handles.get(_files(results, finest)[0]).transform
        grid = ((t.c, t.f), (abs(t.a), abs(t.e)))
        region = tuple(results['bounds'])
        plan = self.view_plan()
        boxes = [sample_ground_box(region, p[2], self.ratio, *grid) for p in plan]
        if self.prefetch_series:
            self._prefetch_series(results, readers, boxes)
        views = []
        for (group, v, scale, sizes), box in zip(plan, boxes):
            for attempt in range(self.max_crop_tries):
                if attempt:
                    box = sample_ground_box(region, scale, self.ratio, *grid)
                view = self._read_view(results, readers, box, sizes, present)
                empty = self._empty_modality(view, present)
                if empty is None:
                    views.append(view)
                    break
            else:
                files = _files(results, empty)
                raise GeoSampleError(
                    f'every one of {self.max_crop_tries} random crops for {group} {v} is entirely '
                    f'nodata in {empty} ({", ".join(files)}); the sample has too little valid '
                    f'data',
                    path=files[0],
                    sample_id=sample_id,
                )
        results['views'] = dict(
            global_views=views[: self.num_global], local_views=views[self.num_global :]
        )
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(num_global={self.num_global}, '
            f'num_local={self.num_local}, global_size={self.global_size}, '
            f'local_size={self.local_size}, global_scale={self.global_scale}, '
            f'local_scale={self.local_scale}, read_mode={self.read_mode})'
        )
