"""DynamicEarthNet (Toker et al. 2022): monthly land-cover labels of 3 m Planet cubes.

Release layout (mediaTUM 1650201, the ``planet.<zone>.zip`` and ``labels.zip`` archives extracted
under ``data_root``, the split files of the authors' repository beside them)::

    data_root/
      dynnet_training_splits/{train,val,test}.txt
          /reprocess-cropped/UTM-24000/<zone>/<tile>/<cube>/PF-SR /labels/<...>.tif <YYYY-MM>
      planet/<zone>/<tile>/<cube>/PF-SR/<YYYY-MM-DD>.tif    daily Planet Fusion, 4 bands B,G,R,NIR,
                                                            1024 x 1024 at 3 m (PF-QA/ beside it)
      labels/<cube>_<zone>/Labels/Raster/<name>/<name>-<YYYY>_<MM>_01.tif
                                                            7 bands, 255 where the class holds
      sentinel2/...  sentinel1/...                          monthly composites (see below)

e.g. ``/reprocess-cropped/UTM-24000/10N/27E-188N/1330_3107_13/PF-SR``: zone ``10N``, tile
``27E-188N``, cube ``1330_3107_13``. The split files write the Planet folders with their
processing prefix ``/reprocess-cropped/UTM-24000/``, which is rewritten to ``/planet/``
(``planet_prefix_map``); every listed path is relative to ``data_root``.

Dyna.-Pla uses one Planet image per labelled month (the day ``planet_day``); Dyna.-S2 uses the
monthly Sentinel-2 series of the ``num_months`` months ending at the labelled month (earlier
months absent from the release, e.g. before the first month of the record, are left out and
padded by ``LoadTimeSeries``). Class 6 (snow & ice) is ignored, as in the official evaluation.

**Assumed layout of the Sentinel files**: the split files and the authors' code do not name the
monthly Sentinel-2 / Sentinel-1 files. They are found by ``s2_template`` / ``s1_template``
(fields ``{zone}``, ``{tile}``, ``{cube}``, ``{year_month}``, taken from the Planet path and the
split line; default ``sentinel2/{zone}/{tile}/{cube}/S2/{year_month}.tif``), to be adapted to a
local copy.

Files the split files list but the release lacks (the authors' README names two training cubes,
1417_3281_13 and 2235_3403_13, that were missing from the release) are reported when the
dataset is built, all at once, not when a run reaches them; ``skip_missing=True`` drops those
samples with a warning instead.
"""

import datetime
import os.path as osp
import re
import warnings
from collections.abc import Sequence

from mmseg.datasets import BaseSegDataset

from mmskysense.registry import DATASETS
from mmskysense.structures.dates import date_code

from .multimodal import select_modalities

DYNAMIC_EARTHNET_CLASSES = (
    'impervious surface',
    'agriculture',
    'forest & other vegetation',
    'wetlands',
    'soil',
    'water',
)
DYNAMIC_EARTHNET_PALETTE = [
    [96, 96, 96],
    [204, 204, 0],
    [0, 204, 0],
    [0, 0, 153],
    [153, 76, 0],
    [0, 128, 255],
]

# <zone>/<tile>/<cube>/PF-SR at the end of a Planet folder of the split files
_PLANET_DIR = re.compile(r'/(?P<zone>\d{1,2}[NS])/(?P<tile>[^/]+)/(?P<cube>\d+_\d+_\d+)/PF-SR/?$')


def month_sequence(year_month: str, count: int) -> list[str]:
    """The ``count`` months ending at ``year_month`` ('YYYY-MM'), oldest first."""
    try:
        year, month = (int(v) for v in year_month.split('-'))
        datetime.date(year, month, 1)
    except ValueError as err:
        raise ValueError(f'bad month {year_month!r}, expected YYYY-MM') from err
    months = []
    for back in range(count - 1, -1, -1):
        total = year * 12 + (month - 1) - back
        months.append(f'{total // 12:04d}-{total % 12 + 1:02d}')
    return months


def mid_month_doy(year_month: str) -> int:
    """Day of year of the 15th of ``year_month``: the date given to a monthly composite."""
    return date_code(f'{year_month}-15', where=year_month)


def parse_planet_dir(planet_dir: str, source: str) -> dict[str, str]:
    """``zone``, ``tile`` and ``cube`` of a Planet folder ``.../<zone>/<tile>/<cube>/PF-SR``."""
    m = _PLANET_DIR.search(planet_dir)
    if m is None:
        raise ValueError(
            f'{source}: Planet folder {planet_dir!r} does not end with '
            f'<zone>/<tile>/<cube>/PF-SR (e.g. 10N/27E-188N/1330_3107_13/PF-SR)'
        )
    return m.groupdict()


@DATASETS.register_module()
class DynamicEarthNetDataset(BaseSegDataset):
    """One sample per (cube, month) of an official split file.

    Args:
        data_root: the extracted release.
        split: ``'train'``, ``'val'`` or ``'test'``.
        modality: ``'planet'`` (Dyna.-Pla) or ``'s2'`` (Dyna.-S2).
        split_dir: folder of the split files under ``data_root``.
        planet_day: day of month of the Planet image used for Dyna.-Pla.
        planet_prefix_map: (old, new) prefix rewrite of the Planet paths in the split files.
        s2_template: path (under ``data_root``) of a monthly Sentinel-2 file.
        num_months: length of the Sentinel-2 series ending at the labelled month.
        skip_missing: drop samples whose listed files are missing (with a warning) instead of
            raising an error that lists them.
    """

    METAINFO = dict(classes=DYNAMIC_EARTHNET_CLASSES, palette=DYNAMIC_EARTHNET_PALETTE)

    def __init__(
        self,
        data_root: str,
        split: str = 'train',
        modality: str = 'planet',
        split_dir: str = 'dynnet_training_splits',
        planet_day: str = '01',
        planet_prefix_map: tuple[str, str] = ('/reprocess-cropped/UTM-24000/', '/planet/'),
        s2_template: str = 'sentinel2/{zone}/{tile}/{cube}/S2/{year_month}.tif',
        num_months: int = 6,
        skip_missing: bool = False,
        **kwargs,
    ) -> None:
        if split not in ('train', 'val', 'test'):
            raise ValueError(f'split must be train, val or test, got {split!r}')
        if modality not in ('planet', 's2'):
            raise ValueError(f'modality must be "planet" or "s2", got {modality!r}')
        self.split = split
        self.modality = modality
        self.planet_day = planet_day
        self.planet_prefix_map = tuple(planet_prefix_map)
        self.s2_template = s2_template
        self.num_months = num_months
        self.skip_missing = skip_missing
        kwargs.setdefault('test_mode', split != 'train')
        super().__init__(
            ann_file=osp.join(split_dir, f'{split}.txt'), data_root=data_root, **kwargs
        )

    def _rel(self, path: str) -> str:
        return osp.join(self.data_root, path.lstrip('/'))

    def sentinel_paths(
        self, template: str, where: dict[str, str], year_month: str
    ) -> list[tuple[str, str]]:
        """``(year_month, path)`` of the ``num_months`` months ending at ``year_month``."""
        return [
            (m, osp.join(self.data_root, template.format(year_month=m, **where)))
            for m in month_sequence(year_month, self.num_months)
        ]

    def parse_split(self) -> list[dict]:
        """The split file's lines as dicts (planet_dir, label, year_month, zone, tile, cube)."""
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'DynamicEarthNet split file not found: {self.ann_file}')
        old, new = self.planet_prefix_map
        lines = []
        with open(self.ann_file) as f:
            for line_no, line in enumerate(f, start=1):
                fields = line.split()
                if not fields:
                    continue
                source = f'{self.ann_file} line {line_no}'
                if len(fields) != 3:
                    raise ValueError(
                        f'{source}: expected "<planet dir> <label> <YYYY-MM>", got {line.strip()!r}'
                    )
                planet_dir, label, year_month = fields
                month_sequence(year_month, 1)  # validates YYYY-MM
                if planet_dir.startswith(old):
                    planet_dir = new + planet_dir[len(old) :]
                where = parse_planet_dir(planet_dir, source)
                lines.append(
                    dict(
                        source=source,
                        planet_dir=planet_dir,
                        label=self._rel(label),
                        year_month=year_month,
                        where=where,
                    )
                )
        if not lines:
            raise ValueError(f'{self.ann_file}: no samples listed')
        return lines

    def _base_item(self, line: dict) -> dict:
        return dict(
            seg_map_path=line['label'],
            label_map=self.label_map,
            reduce_zero_label=False,
            seg_fields=[],
            year_month=line['year_month'],
            cube=line['where']['cube'],
        )

    def _planet_path(self, line: dict) -> str:
        return self._rel(
            osp.join(line['planet_dir'], f'{line["year_month"]}-{self.planet_day}.tif')
        )

    def make_item(self, line: dict) -> tuple[dict, list[str]]:
        """The sample of one split line and the listed files it needs that are missing."""
        item = self._base_item(line)
        required = [item['seg_map_path']]
        if self.modality == 'planet':
            item['img_path'] = self._planet_path(line)
            required.append(item['img_path'])
        else:
            dated = self.sentinel_paths(self.s2_template, line['where'], line['year_month'])
            # the labelled month is required; earlier months may be absent (padded dates)
            required.append(dated[-1][1])
            item['img_paths'] = [p for _, p in dated if osp.isfile(p)] or [dated[-1][1]]
            item['img_path'] = dated[-1][1]
        return item, [p for p in required if not osp.isfile(p)]

    def load_data_list(self) -> list[dict]:
        items, missing = [], []
        for line in self.parse_split():
            item, lacking = self.make_item(line)
            if lacking:
                missing.append((line['source'], lacking))
            else:
                items.append(item)
        if missing:
            listing = '; '.join(f'{src}: {", ".join(paths)}' for src, paths in missing[:10])
            more = f' (and {len(missing) - 10} more)' if len(missing) > 10 else ''
            message = (
                f'{self.ann_file}: {len(missing)} of {len(missing) + len(items)} listed '
                f'samples lack files of the release: {listing}{more}'
            )
            if not self.skip_missing:
                raise FileNotFoundError(message + '; pass skip_missing=True to drop them')
            warnings.warn(message + '; skipped (skip_missing=True)')
        if not items:
            raise ValueError(f'{self.ann_file}: no sample with all its files')
        return items


@DATASETS.register_module()
class DynamicEarthNetMMDataset(DynamicEarthNetDataset):
    """Dyna.-MM (paper Table 3a): the Planet image of the labelled month, and the monthly
    Sentinel-2 and Sentinel-1 series of the ``num_months`` months ending at it.

    Each sample holds ``modalities`` under the model's modality names: ``hr``, the Planet image
    (``dict(path=...)``, through the backbone's HR branch as in Dyna.-Pla), ``s2`` and ``s1``
    (``dict(paths=[...], dates=[YYYY-MM-15, ...])``, the months present in the release). A
    modality the release lacks for a sample (no Sentinel-1 file for any month of the window,
    say) is listed in ``missing_modalities`` and masked by the model, not zero-filled as data;
    only the label is required. Months of a series that are absent are left out (padded dates).

    Args:
        modalities: a non-empty subset of ``('hr', 's2', 's1')`` (Table 3a rows; ``hr`` is
            Planet).
        s1_template: path (under ``data_root``) of a monthly Sentinel-1 file.
        kwargs: ``DynamicEarthNetDataset`` arguments except ``modality``.
    """

    MODALITIES = ('hr', 's2', 's1')

    def __init__(
        self,
        *args,
        modalities: Sequence[str] = ('hr', 's2', 's1'),
        s1_template: str = 'sentinel1/{zone}/{tile}/{cube}/S1/{year_month}.tif',
        **kwargs,
    ) -> None:
        self.modalities = select_modalities('DynamicEarthNetMMDataset', modalities, self.MODALITIES)
        self.s1_template = s1_template
        super().__init__(*args, modality='planet', **kwargs)

    def make_item(self, line: dict) -> tuple[dict, list[str]]:
        item = self._base_item(line)
        mods, absent = {}, []
        for name in self.modalities:
            if name == 'hr':
                path = self._planet_path(line)
                if osp.isfile(path):
                    mods[name] = dict(path=path)
                else:
                    absent.append(name)
                continue
            template = self.s2_template if name == 's2' else self.s1_template
            dated = [
                (f'{m}-15', p)
                for m, p in self.sentinel_paths(template, line['where'], line['year_month'])
                if osp.isfile(p)
            ]
            if dated:
                mods[name] = dict(paths=[p for _, p in dated], dates=[d for d, _ in dated])
            else:
                absent.append(name)
        item.update(modalities=mods, missing_modalities=absent, img_path=item['seg_map_path'])
        lacking = [item['seg_map_path']] if not osp.isfile(item['seg_map_path']) else []
        if not mods:
            lacking.append(f'every modality of {self.modalities}')
        return item, lacking
