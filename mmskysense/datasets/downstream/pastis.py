"""PASTIS-R (Sainte Fare Garnot et al. 2021, 2022) and PASTIS-MM (paper Table 3b): crop-type
semantic segmentation of 128 x 128 patches at 10 m from satellite time series.

Release layout (Zenodo 5735646, ``PASTIS-R.zip`` extracted; ``data_root`` is its ``PASTIS-R/``)::

    PASTIS-R/
      DATA_S2/S2_<ID_PATCH>.npy        T x 10 x 128 x 128 int16 (B2, B3, B4, B5, B6, B7, B8, B8A,
                                       B11, B12; reflectance x 1e4), 38-61 dates
      DATA_S1A/S1A_<ID_PATCH>.npy      T x 3 x 128 x 128 float32 (VV, VH, VV/VH; ascending orbit)
      DATA_S1D/S1D_<ID_PATCH>.npy      the same, descending orbit
      ANNOTATIONS/TARGET_<ID_PATCH>.npy  3 x 128 x 128; channel 0 = semantic class
      INSTANCE_ANNOTATIONS/...          (panoptic targets, not read)
      metadata.geojson                  one feature per patch: ID_PATCH, Fold (1-5), dates-S2,
                                        dates-S1A, dates-S1D ({"0": 20180924, ...}), the patch's
                                        polygon (EPSG:2154)
      NORM_S2_patch.json  NORM_S1A_patch.json  NORM_S1D_patch.json   per-fold channel mean/std

Classes (channel 0 of the targets): 0 background, 1-18 crop types, 19 void (parcels mostly
outside their patch), ignored as in the authors' training code (utae-paps
``train_semantic.py``: ``ignore_index=-1`` drops the last of the 20 classes from the loss and
the confusion matrix), leaving 19 scored classes. The metric of the paper is the overall
accuracy (``aAcc`` of ``mmseg.IoUMetric``).

**5-fold protocol** (the authors' ``fold_sequence``): cross-validation fold k trains on 3 folds,
validates on the next and tests on the one after; ``PASTIS_FOLDS[k]`` gives them.

**Normalisation** as the authors' loader does it: each series is standardised per channel with
the release's ``NORM_<sat>_patch.json``, the mean of the statistics of the folds given in
``norm_folds`` (default: the training folds of the configuration, for every split; the authors'
loader uses the folds of the split being loaded, so its test set is normalised with the test
fold's own statistics).

**Dates**: the series keep their full dates; the model's date code is the number of days since
``reference_date`` (2018-09-01, the authors' ``PASTIS_Dataset(reference_date=...)`` in
utae-paps), computed by ``mmskysense.structures.dates.date_code``: a series runs from September
2018 to November 2019, and a day of year would drop the year (2018-10-01 and 2019-10-01 both
274).

**S1** (the backbone's ``s1`` modality: VV, VH in dB, as in pretraining): one orbit
(``s1_orbit``, ascending by default), channels 1-2. PASTIS-R stores its S1 backscatter in dB;
``LoadMultiModalImages(sar='db')`` checks it per file.

**HR images (PASTIS-MM)**: the paper's Google Earth Pro images are not distributed. Give
``hr_root``: one GeoTIFF per patch, ``<hr_root>/<ID_PATCH>.tif`` (``hr_template``), RGB (bands 1,
2, 3) of any ground resolution and CRS that covers the patch's polygon; the loader reads it over
the polygon's bounds (reprojected to the GeoTIFF's CRS), so a larger image works too. A patch
without its GeoTIFF has its HR modality masked (listed once, as a warning, when the dataset is
built).
"""

import json
import os.path as osp
import warnings
from collections.abc import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.datasets import BaseSegDataset

from mmskysense.registry import DATASETS, TRANSFORMS
from mmskysense.structures.dates import as_date

from ..transforms.loading import mask_label_nodata
from .multimodal import closest_date, select_modalities

PASTIS_CLASSES = (
    'background',
    'meadow',
    'soft_winter_wheat',
    'corn',
    'winter_barley',
    'winter_rapeseed',
    'spring_barley',
    'sunflower',
    'grapevine',
    'beet',
    'winter_triticale',
    'winter_durum_wheat',
    'fruits_vegetables_flowers',
    'potatoes',
    'leguminous_fodder',
    'soybeans',
    'orchard',
    'mixed_cereal',
    'sorghum',
)
PASTIS_VOID = 19
#: the reference of the date code (days since it), as the authors' U-TAE loader
PASTIS_REFERENCE_DATE = '2018-09-01'

# cross-validation fold -> (train folds, val fold, test fold), as utae-paps train_semantic.py
PASTIS_FOLDS = {
    1: ((1, 2, 3), (4,), (5,)),
    2: ((2, 3, 4), (5,), (1,)),
    3: ((3, 4, 5), (1,), (2,)),
    4: ((4, 5, 1), (2,), (3,)),
    5: ((5, 1, 2), (3,), (4,)),
}
SPLITS = {'train': 0, 'val': 1, 'test': 2}


def _dates(value, source: str) -> list[str]:
    """``{"0": 20180924, ...}`` (or its JSON string) -> ``['2018-09-24', ...]`` in order."""
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise ValueError(f'{source}: expected a dict of dates, got {type(value).__name__}')
    out = []
    for key in sorted(value, key=int):
        d = str(value[key])
        if len(d) != 8 or not d.isdigit():
            raise ValueError(f'{source}: bad date {value[key]!r}, expected YYYYMMDD')
        out.append(f'{d[:4]}-{d[4:6]}-{d[6:]}')
    return out


def _norm(data_root: str, sat: str, folds: Sequence[int]) -> tuple[list, list]:
    return fold_norm(osp.join(data_root, f'NORM_{sat}_patch.json'), folds)


def fold_norm(path: str, folds: Sequence[int]) -> tuple[list, list]:
    """``(mean, std)`` per channel of a ``NORM_<sat>_patch.json``: the mean over ``folds`` (the
    loader's standardisation, and a PASTIS-MM scene input's ``norm``)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'PASTIS normalisation statistics not found: {path}')
    with open(path) as f:
        stats = json.load(f)
    try:
        means = np.stack([stats[f'Fold_{k}']['mean'] for k in folds]).mean(0)
        stds = np.stack([stats[f'Fold_{k}']['std'] for k in folds]).mean(0)
    except KeyError as err:
        raise KeyError(f'{path}: no statistics for {err}') from err
    return means.tolist(), stds.tolist()


def _polygon_bounds(geometry: dict, source: str) -> tuple[float, float, float, float]:
    coords = geometry.get('coordinates') if geometry else None
    if not coords:
        raise ValueError(f'{source}: the patch has no polygon')
    pts = np.asarray(coords[0] if geometry.get('type') == 'Polygon' else coords[0][0], float)
    return (
        float(pts[:, 0].min()),
        float(pts[:, 1].min()),
        float(pts[:, 0].max()),
        float(pts[:, 1].max()),
    )


@DATASETS.register_module()
class PASTISDataset(BaseSegDataset):
    """PASTIS-R / PASTIS-MM, one sample per patch of the split's folds.

    Args:
        data_root: the ``PASTIS-R`` folder.
        split: ``'train'``, ``'val'`` or ``'test'`` of cross-validation fold ``fold``.
        fold: the cross-validation fold (1-5), see ``PASTIS_FOLDS``; or give ``folds``.
        folds: the release folds of this split (overrides ``fold``/``split``).
        modalities: a non-empty subset of ``('s2', 's1', 'hr')`` (Table 3b rows).
        s1_orbit: ``'S1A'`` (ascending) or ``'S1D'`` (descending).
        hr_root, hr_template: the user's HR GeoTIFFs (``hr_template`` formatted with ``id``).
        norm_folds: folds whose release statistics standardise the series (default: the
            training folds of ``fold``).
        mono_date: ``'YYYY-MM-DD'``: read only the S2 date closest to it (Table 3b row "S2",
            single-date; the authors' loader has the same option).
        reference_date: the date codes of the series are the days since it (``date_code``).
    """

    METAINFO = dict(classes=PASTIS_CLASSES)
    MODALITIES = ('s2', 's1', 'hr')

    def __init__(
        self,
        data_root: str,
        split: str = 'train',
        fold: int = 1,
        folds: Sequence[int] | None = None,
        modalities: Sequence[str] = ('s2', 's1'),
        s1_orbit: str = 'S1A',
        hr_root: str | None = None,
        hr_template: str = '{id}.tif',
        norm_folds: Sequence[int] | None = None,
        mono_date: str | None = None,
        reference_date: str = PASTIS_REFERENCE_DATE,
        **kwargs,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f'split must be one of {tuple(SPLITS)}, got {split!r}')
        if fold not in PASTIS_FOLDS:
            raise ValueError(f'fold must be one of {tuple(PASTIS_FOLDS)}, got {fold!r}')
        if s1_orbit not in ('S1A', 'S1D'):
            raise ValueError(f's1_orbit must be "S1A" or "S1D", got {s1_orbit!r}')
        self.modalities = select_modalities('PASTISDataset', modalities, self.MODALITIES)
        if 'hr' in self.modalities and not hr_root:
            raise ValueError(
                'PASTISDataset: modality "hr" needs hr_root, the folder of the HR GeoTIFFs '
                '(<hr_root>/<ID_PATCH>.tif; docs/multimodal.md)'
            )
        self.split = split
        self.folds = tuple(folds) if folds is not None else PASTIS_FOLDS[fold][SPLITS[split]]
        self.norm_folds = tuple(norm_folds) if norm_folds is not None else PASTIS_FOLDS[fold][0]
        self.s1_orbit = s1_orbit
        self.hr_root = hr_root
        self.hr_template = hr_template
        self.mono_date = mono_date
        self.reference_date = as_date(reference_date, 'PASTISDataset reference_date').isoformat()
        kwargs.setdefault('test_mode', split != 'train')
        super().__init__(ann_file='metadata.geojson', data_root=data_root, **kwargs)

    def load_data_list(self) -> list[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'PASTIS metadata not found: {self.ann_file}')
        with open(self.ann_file) as f:
            meta = json.load(f)
        crs = (meta.get('crs') or {}).get('properties', {}).get('name', 'EPSG:2154')
        sats = {'s2': 'S2', 's1': self.s1_orbit}
        norms = {m: _norm(self.data_root, sats[m], self.norm_folds) for m in sats
                 if m in self.modalities}  # fmt: skip
        items, missing, no_hr = [], [], []
        for n, feature in enumerate(meta.get('features', [])):
            props = feature.get('properties', {})
            source = f'{self.ann_file} feature {n}'
            if 'ID_PATCH' not in props or 'Fold' not in props:
                raise KeyError(f'{source}: needs ID_PATCH and Fold properties')
            if int(props['Fold']) not in self.folds:
                continue
            pid = int(props['ID_PATCH'])
            target = osp.join(self.data_root, 'ANNOTATIONS', f'TARGET_{pid}.npy')
            mods, absent = {}, []
            for m in self.modalities:
                if m == 'hr':
                    path = osp.join(self.hr_root, self.hr_template.format(id=pid))
                    if osp.isfile(path):
                        mods['hr'] = dict(
                            path=path,
                            window_bounds=_polygon_bounds(feature.get('geometry'), source),
                            window_crs=crs,
                        )
                    else:
                        absent.append('hr')
                        no_hr.append(path)
                    continue
                sat = sats[m]
                path = osp.join(self.data_root, f'DATA_{sat}', f'{sat}_{pid}.npy')
                key = f'dates-{sat}'
                if key not in props:
                    raise KeyError(f'{source}: no {key!r} property')
                dates = _dates(props[key], f'{source} {key}')
                mods[m] = dict(
                    array=path, dates=dates, norm=norms[m], date_reference=self.reference_date
                )
                if m == 's2' and self.mono_date is not None:
                    mods[m]['select_dates'] = [closest_date(dates, self.mono_date)]
            lacking = [p for p in [target] + [v['array'] for v in mods.values() if 'array' in v]
                       if not osp.isfile(p)]  # fmt: skip
            if lacking or not mods:
                missing.append(f'patch {pid}: {", ".join(lacking) or "no modality"}')
                continue
            items.append(
                dict(
                    img_path=target,
                    seg_map_path=target,
                    id_patch=pid,
                    modalities=mods,
                    missing_modalities=absent,
                    label_map=self.label_map,
                    reduce_zero_label=False,
                    seg_fields=[],
                )
            )
        if missing:
            raise FileNotFoundError(
                f'{self.ann_file}: {len(missing)} patches of folds {self.folds} lack files of '
                f'the release: {"; ".join(missing[:10])}'
            )
        if no_hr:
            warnings.warn(
                f'PASTISDataset: {len(no_hr)} of {len(items)} patches have no HR GeoTIFF '
                f'(e.g. {no_hr[0]}); their HR modality is masked'
            )
        if not items:
            raise ValueError(f'{self.ann_file}: no patch in folds {self.folds}')
        return items


@TRANSFORMS.register_module()
class LoadPASTISTarget(BaseTransform):
    """Channel 0 of ``ANNOTATIONS/TARGET_<id>.npy`` into ``gt_seg_map``; void (19) becomes
    ``ignore_index``, and so does a pixel where no loaded modality holds data
    (``valid_masks`` of ``LoadMultiModalImages``, the raster package's nodata rule)."""

    def __init__(self, void_class: int = PASTIS_VOID, ignore_index: int = 255) -> None:
        self.void_class = void_class
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        path = results['seg_map_path']
        if not osp.isfile(path):
            raise FileNotFoundError(f'PASTIS target not found: {path}')
        target = np.load(path)
        if target.ndim != 3:
            raise ValueError(f'{path}: expected a 3 x H x W target, got shape {target.shape}')
        seg = target[0].astype(np.int64)
        bad = np.setdiff1d(np.unique(seg), np.arange(self.void_class + 1))
        if bad.size:
            raise ValueError(f'{path}: classes {bad.tolist()} outside 0..{self.void_class}')
        seg[seg == self.void_class] = self.ignore_index
        seg = mask_label_nodata(results, seg, None, self.ignore_index, path)
        results['gt_seg_map'] = seg.astype(np.uint8)
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results
