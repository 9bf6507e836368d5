"""DynamicEarthNet (Toker et al. 2022): monthly land-cover labels of 3 m Planet cubes.

Release layout this class reads (paths in the split files start with ``/`` and are relative to
``data_root``; the release writes Planet folders as ``/reprocess-cropped/UTM-24000/...``, which
the dataset maps to the extracted ``/planet/...`` folder)::

    data_root/
      dynnet_training_splits/{train,val,test}.txt
          <planet cube dir> <label tif> <YYYY-MM>          one line per (cube, month)
      planet/<zone>/<cube>/PF-SR/<YYYY-MM-DD>.tif           daily Planet Fusion, 4 bands B,G,R,NIR
      labels/.../<...>-<YYYY>_<MM>_01.tif                   7 bands, 255 where the class holds
      sentinel2/<zone>/<cube>/S2/<YYYY-MM>.tif              monthly Sentinel-2, 12 or 13 bands

Dyna.-Pla uses one Planet image per labelled month (the day ``planet_day``); Dyna.-S2 uses the
monthly Sentinel-2 series of the ``num_months`` months ending at the labelled month (earlier
months that do not exist, e.g. before the first month of the record, are left out and padded by
``LoadTimeSeries``). Class 6 (snow & ice) is ignored, as in the official evaluation.
"""

import datetime
import os.path as osp

from mmseg.datasets import BaseSegDataset

from mmskysense.registry import DATASETS

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
        s2_root, s2_subdir: Sentinel-2 monthly files are
            ``<s2_root>/<zone>/<cube>/<s2_subdir>/<YYYY-MM>.tif``, zone and cube taken from the
            Planet path.
        num_months: length of the Sentinel-2 series ending at the labelled month.
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
        s2_root: str = 'sentinel2',
        s2_subdir: str = 'S2',
        num_months: int = 6,
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
        self.s2_root = s2_root
        self.s2_subdir = s2_subdir
        self.num_months = num_months
        kwargs.setdefault('test_mode', split != 'train')
        super().__init__(
            ann_file=osp.join(split_dir, f'{split}.txt'), data_root=data_root, **kwargs
        )

    def _rel(self, path: str) -> str:
        return osp.join(self.data_root, path.lstrip('/'))

    def _s2_paths(self, planet_dir: str, year_month: str, source: str) -> list[str]:
        parts = [p for p in planet_dir.strip('/').split('/') if p]
        if len(parts) < 3:
            raise ValueError(f'{source}: cannot find zone/cube in Planet path {planet_dir!r}')
        zone, cube = parts[-3], parts[-2]
        folder = osp.join(self.data_root, self.s2_root, zone, cube, self.s2_subdir)
        paths = [osp.join(folder, f'{m}.tif') for m in month_sequence(year_month, self.num_months)]
        if not osp.isfile(paths[-1]):
            raise FileNotFoundError(
                f'{source}: Sentinel-2 file of the labelled month not found: {paths[-1]}'
            )
        return [p for p in paths if osp.isfile(p)]

    def load_data_list(self) -> list[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'DynamicEarthNet split file not found: {self.ann_file}')
        old, new = self.planet_prefix_map
        items = []
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
                if planet_dir.startswith(old):
                    planet_dir = new + planet_dir[len(old) :]
                item = dict(
                    seg_map_path=self._rel(label),
                    label_map=self.label_map,
                    reduce_zero_label=False,
                    seg_fields=[],
                    year_month=year_month,
                )
                if self.modality == 'planet':
                    item['img_path'] = self._rel(
                        osp.join(planet_dir, f'{year_month}-{self.planet_day}.tif')
                    )
                else:
                    item['img_paths'] = self._s2_paths(planet_dir, year_month, source)
                    item['img_path'] = item['img_paths'][-1]
                items.append(item)
        if not items:
            raise ValueError(f'{self.ann_file}: no samples listed')
        return items
