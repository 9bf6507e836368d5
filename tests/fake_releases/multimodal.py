"""Generators of a fake PASTIS-R release (with user HR GeoTIFFs for PASTIS-MM), laid out as the
real one (docs/multimodal.md): ``DATA_S2``, ``DATA_S1A``, ``DATA_S1D`` series, ``ANNOTATIONS``,
``INSTANCE_ANNOTATIONS``, ``metadata.geojson`` with folds and dates, ``NORM_*_patch.json``.

BEN-MM and Dyna.-MM come from ``downstream.make_bigearthnet(with_s1=True)`` and
``downstream.make_dynamic_earthnet``, whose releases hold the extra modalities.
"""

import json
import os
import os.path as osp
from collections.abc import Sequence

import numpy as np

from .downstream import _label_layout, _s1_level, _spectral_signature, _write_tif, visible_code

PASTIS_CRS = 'EPSG:2154'  # Lambert-93, the CRS of the release's patch polygons


def _series_dates(rng: np.random.Generator, count: int) -> dict[str, int]:
    """``{"0": 20180924, ...}``: ``count`` sorted dates between Sept 2018 and Oct 2019."""
    import datetime

    start = datetime.date(2018, 9, 15)
    days = np.sort(rng.choice(400, size=count, replace=False))
    out = {}
    for i, d in enumerate(days):
        day = start + datetime.timedelta(days=int(d))
        out[str(i)] = int(day.strftime('%Y%m%d'))
    return out


def make_pastis_r(
    root: str,
    patches_per_fold: int = 2,
    size: int = 128,
    s2_dates: tuple[int, int] = (4, 7),
    s1_dates: tuple[int, int] = (5, 8),
    cell: int = 32,
    seed: int = 0,
    hr_root: str | None = None,
    hr_gsd: float = 2.5,
    hr_margin: float = 40.0,
    missing_hr: Sequence[int] = (),
    visible: dict[str, str] | None = None,
    num_classes: int = 20,
) -> str:
    """``root`` (the ``PASTIS-R`` folder) with ``patches_per_fold`` patches in each of the 5
    folds (ID_PATCH 10000, 10001, ...), and, when ``hr_root`` is given, one RGB GeoTIFF per patch
    ``<hr_root>/<ID_PATCH>.tif`` at ``hr_gsd`` m covering the patch plus ``hr_margin`` m (the
    user-supplied HR images of PASTIS-MM; those of ``missing_hr`` are not written).

    Classes 0..19 are painted in ``cell`` px parcels (19 = void). ``visible``: per modality
    (``s2``, ``s1``, ``hr``) which class code it shows (``downstream.visible_code``).
    """
    visible = visible or dict(s2='all', s1='all', hr='all')
    rng = np.random.default_rng(seed)
    features = []
    for sub in ('DATA_S2', 'DATA_S1A', 'DATA_S1D', 'ANNOTATIONS', 'INSTANCE_ANNOTATIONS'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    if hr_root:
        os.makedirs(hr_root, exist_ok=True)
    pid = 10000
    for fold in range(1, 6):
        for _ in range(patches_per_fold):
            labels = _label_layout(num_classes, size, rng, cell)
            target = np.stack([labels, labels * 0, (labels > 0).astype(np.int64)])
            np.save(osp.join(root, 'ANNOTATIONS', f'TARGET_{pid}.npy'), target.astype(np.uint8))
            np.save(
                osp.join(root, 'INSTANCE_ANNOTATIONS', f'INSTANCES_{pid}.npy'),
                labels.astype(np.uint16),
            )
            dates = {}
            code = visible_code(labels, 's2', visible.get('s2', 'all'))
            t = int(rng.integers(s2_dates[0], s2_dates[1] + 1))
            dates['S2'] = _series_dates(rng, t)
            sig = np.stack([_spectral_signature(int(k), 10) for k in range(num_classes)])
            s2 = sig[code].transpose(2, 0, 1)[None] * (0.9 + 0.2 * rng.random((t, 1, 1, 1)))
            s2 = s2 + rng.normal(0, 60, (t, 10, size, size))
            np.save(
                osp.join(root, 'DATA_S2', f'S2_{pid}.npy'), np.clip(s2, 0, 10000).astype(np.int16)
            )
            s1_code = visible_code(labels, 's1', visible.get('s1', 'all'))
            vv = np.vectorize(_s1_level)(s1_code)
            for sat in ('S1A', 'S1D'):
                t = int(rng.integers(s1_dates[0], s1_dates[1] + 1))
                dates[sat] = _series_dates(rng, t)
                s1 = np.stack([vv, vv - 7.0, np.full_like(vv, 7.0)])[None].repeat(t, 0)
                s1 = s1 + rng.normal(0, 0.8, s1.shape)
                np.save(osp.join(root, f'DATA_{sat}', f'{sat}_{pid}.npy'), s1.astype(np.float32))
            x0, y0 = 600000.0 + 2000.0 * (pid - 10000), 6800000.0
            box = (x0, y0 - size * 10.0, x0 + size * 10.0, y0)
            if hr_root and pid not in missing_hr:
                hr_code = visible_code(labels, 'hr', visible.get('hr', 'all'))
                side = int(round((size * 10.0 + 2 * hr_margin) / hr_gsd))
                px = int(round(hr_margin / hr_gsd))
                inner = side - 2 * px
                idx = (np.arange(inner) * size / inner).astype(int)
                fine = np.zeros((side, side), np.int64)
                fine[px : px + inner, px : px + inner] = hr_code[idx][:, idx]
                colours = np.stack([_hr_colour(k) for k in range(num_classes)])
                rgb = colours[fine] + rng.normal(0, 6, (side, side, 3))
                _write_tif(
                    osp.join(hr_root, f'{pid}.tif'),
                    np.clip(rgb, 0, 255).astype(np.uint8).transpose(2, 0, 1).copy(),
                    gsd=hr_gsd,
                    crs=PASTIS_CRS,
                    origin=(x0 - hr_margin, y0 + hr_margin),
                )
            features.append(
                dict(
                    type='Feature',
                    properties={
                        'ID_PATCH': pid,
                        'Fold': fold,
                        'N_Parcel': int(len(np.unique(labels))),
                        'Parcel_Cover': 0.9,
                        'TILE': 't30uxv',
                        'Patch_Cover': 1.0,
                        'dates-S2': json.dumps(dates['S2']),
                        'dates-S1A': json.dumps(dates['S1A']),
                        'dates-S1D': json.dumps(dates['S1D']),
                    },
                    geometry=dict(
                        type='Polygon',
                        coordinates=[[[box[0], box[1]], [box[2], box[1]], [box[2], box[3]],
                                      [box[0], box[3]], [box[0], box[1]]]],
                    ),
                )
            )  # fmt: skip
            pid += 1
    with open(osp.join(root, 'metadata.geojson'), 'w') as f:
        json.dump(
            dict(
                type='FeatureCollection',
                crs=dict(type='name', properties=dict(name='urn:ogc:def:crs:EPSG::2154')),
                features=features,
            ),
            f,
        )
    for sat, channels in (('S2', 10), ('S1A', 3), ('S1D', 3)):
        stats = {}
        for fold in range(1, 6):
            if sat == 'S2':
                mean, std = [2200.0] * channels, [1300.0] * channels
            else:
                mean, std = [-14.0, -21.0, 7.0], [4.0, 4.0, 1.0]
            stats[f'Fold_{fold}'] = dict(mean=mean, std=std)
        with open(osp.join(root, f'NORM_{sat}_patch.json'), 'w') as f:
            json.dump(stats, f)
    return root


def _hr_colour(index: int) -> np.ndarray:
    from .downstream import class_colour

    return class_colour(index, 20)
