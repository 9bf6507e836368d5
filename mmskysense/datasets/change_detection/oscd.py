"""OSCD, the Onera Satellite Change Detection dataset (Daudt et al. 2018): urban change in 24
Sentinel-2 L1C city pairs (14 train, 10 test), 13 bands resampled to 10 m.

Release layout (the three archives extracted side by side in ``data_root``)::

    Onera Satellite Change Detection dataset - Images/
        train.txt  test.txt                  one line: comma-separated city names
        <city>/dates.txt                     "date_1: YYYYMMDD" and "date_2: YYYYMMDD"
        <city>/imgs_1_rect/B01.tif ... B12.tif, B8A.tif    date 1, one file per band, 10 m grid
        <city>/imgs_2_rect/...                              date 2 on the same grid
        <city>/imgs_1/, imgs_2/, pair/       native-resolution bands and previews (not read)
    Onera Satellite Change Detection dataset - Train Labels/<city>/cm/cm.png   0 / 255
    Onera Satellite Change Detection dataset - Test Labels/<city>/cm/cm.png

The cities come from the release's ``train.txt`` / ``test.txt`` (as in the authors' code);
every listed city must have both dates' band files, ``dates.txt`` and its label. Cities differ in
size (a few hundred px a side), so training takes random crops and testing slides a window over
the whole city (configs/_base_/datasets/oscd.py).
"""

import os.path as osp
from collections.abc import Sequence

from mmskysense.registry import DATASETS

from .base import BaseChangeDetDataset

OSCD_IMAGES = 'Onera Satellite Change Detection dataset - Images'
OSCD_LABELS = {
    'train': 'Onera Satellite Change Detection dataset - Train Labels',
    'test': 'Onera Satellite Change Detection dataset - Test Labels',
}
OSCD_ALL_BANDS = (
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
#: the backbone's ``s2`` modality, in its order (B2-B8, B8A, B11, B12)
OSCD_S2_BANDS = ('B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12')


def read_city_list(path: str) -> list[str]:
    """City names of an OSCD split file (comma-separated, possibly over several lines)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'OSCD split file not found: {path}')
    with open(path) as f:
        cities = [c.strip() for c in f.read().replace('\n', ',').split(',') if c.strip()]
    if not cities:
        raise ValueError(f'OSCD split file {path} lists no city')
    return cities


def read_dates(path: str) -> list[str]:
    """The two acquisition dates (``YYYYMMDD``) of a city's ``dates.txt``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'OSCD dates file not found: {path}')
    dates = {}
    with open(path) as f:
        for line in f:
            if ':' in line:
                key, value = (s.strip() for s in line.split(':', 1))
                dates[key] = value
    if not {'date_1', 'date_2'} <= set(dates):
        raise ValueError(f'{path}: expected lines "date_1: YYYYMMDD" and "date_2: YYYYMMDD"')
    return [dates['date_1'], dates['date_2']]


@DATASETS.register_module()
class OSCDDataset(BaseChangeDetDataset):
    """OSCD cities of one split, one sample per city (metric: F1 of the changed class).

    Args:
        data_root: folder holding the extracted archives.
        split: ``'train'`` or ``'test'``.
        bands: band names to read per date, in output order (default: the backbone's 10),
            from ``imgs_{1,2}_rect`` (every band on the 10 m grid, as distributed).
    """

    def __init__(
        self, data_root: str, split: str = 'train', bands: Sequence[str] = OSCD_S2_BANDS, **kwargs
    ) -> None:
        if split not in OSCD_LABELS:
            raise ValueError(f'split must be "train" or "test", got {split!r}')
        unknown = [b for b in bands if b not in OSCD_ALL_BANDS]
        if unknown:
            raise ValueError(f'unknown OSCD bands {unknown}; the release has {OSCD_ALL_BANDS}')
        self.split = split
        self.bands = tuple(bands)
        kwargs.setdefault('test_mode', split != 'train')
        super().__init__(data_root=data_root, **kwargs)

    def load_data_list(self) -> list[dict]:
        images = osp.join(self.data_root, OSCD_IMAGES)
        labels = osp.join(self.data_root, OSCD_LABELS[self.split])
        items = []
        for city in read_city_list(osp.join(images, f'{self.split}.txt')):
            dates = []
            for d in (1, 2):
                folder = osp.join(images, city, f'imgs_{d}_rect')
                paths = [osp.join(folder, f'{band}.tif') for band in self.bands]
                for path in paths:
                    if not osp.isfile(path):
                        raise FileNotFoundError(f'OSCD city {city!r}: band file {path} is missing')
                dates.append(paths)
            label = osp.join(labels, city, 'cm', 'cm.png')
            if not osp.isfile(label):
                raise FileNotFoundError(f'OSCD city {city!r}: change label {label} is missing')
            items.append(
                self._item(
                    dates,
                    label,
                    img_path=osp.join(images, city),
                    city=city,
                    dates=read_dates(osp.join(images, city, 'dates.txt')),
                )
            )
        return items
