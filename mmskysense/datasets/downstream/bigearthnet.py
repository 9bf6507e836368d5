"""BigEarthNet-S2 (Sumbul et al. 2019) with the 19-class nomenclature (Sumbul et al. 2020).

Official release layout (``BigEarthNet-v1.0``)::

    BigEarthNet-v1.0/
      S2A_MSIL2A_20170613T101031_0_45/
        S2A_MSIL2A_20170613T101031_0_45_B01.tif ... _B12.tif, _B8A.tif   (12 bands, 120/60/20 px)
        S2A_MSIL2A_20170613T101031_0_45_labels_metadata.json              ("labels": [CLC names])
    train.csv  val.csv  test.csv   (one patch name per line; the bigearthnet-models split)
    patches_with_cloud_and_shadow.csv  patches_with_seasonal_snow.csv    (optional, excluded)

The json holds the 43 CORINE level-3 names; they are mapped to the 19 classes here, and the 8
names without a 19-class counterpart are dropped, as in the official nomenclature.
"""

import csv
import json
import os.path as osp
from collections.abc import Sequence

from mmpretrain.datasets import BaseDataset

from mmskysense.registry import DATASETS

from .splits import random_ratio_subset

BEN19_CLASSES = (
    'Urban fabric',
    'Industrial or commercial units',
    'Arable land',
    'Permanent crops',
    'Pastures',
    'Complex cultivation patterns',
    'Land principally occupied by agriculture, with significant areas of natural vegetation',
    'Agro-forestry areas',
    'Broad-leaved forest',
    'Coniferous forest',
    'Mixed forest',
    'Natural grassland and sparsely vegetated areas',
    'Moors, heathland and sclerophyllous vegetation',
    'Transitional woodland, shrub',
    'Beaches, dunes, sands',
    'Inland wetlands',
    'Coastal wetlands',
    'Inland waters',
    'Marine waters',
)

# 43-class CORINE names of the json files -> index in BEN19_CLASSES (None: not in the 19 classes)
BEN43_TO_19: dict[str, int | None] = {
    'Continuous urban fabric': 0,
    'Discontinuous urban fabric': 0,
    'Industrial or commercial units': 1,
    'Road and rail networks and associated land': None,
    'Port areas': None,
    'Airports': None,
    'Mineral extraction sites': None,
    'Dump sites': None,
    'Construction sites': None,
    'Green urban areas': None,
    'Sport and leisure facilities': None,
    'Non-irrigated arable land': 2,
    'Permanently irrigated land': 2,
    'Rice fields': 2,
    'Vineyards': 3,
    'Fruit trees and berry plantations': 3,
    'Olive groves': 3,
    'Annual crops associated with permanent crops': 3,
    'Pastures': 4,
    'Complex cultivation patterns': 5,
    'Land principally occupied by agriculture, with significant areas of natural vegetation': 6,
    'Agro-forestry areas': 7,
    'Broad-leaved forest': 8,
    'Coniferous forest': 9,
    'Mixed forest': 10,
    'Natural grassland': 11,
    'Sparsely vegetated areas': 11,
    'Moors and heathland': 12,
    'Sclerophyllous vegetation': 12,
    'Transitional woodland/shrub': 13,
    'Beaches, dunes, sands': 14,
    'Bare rock': None,
    'Burnt areas': None,
    'Inland marshes': 15,
    'Peatbogs': 15,
    'Salt marshes': 16,
    'Salines': 16,
    'Intertidal flats': 16,
    'Water courses': 17,
    'Water bodies': 17,
    'Coastal lagoons': 18,
    'Estuaries': 18,
    'Sea and ocean': 18,
}

# the 10 bands of the backbone's s2 modality, in its order (B01, B09 are 60 m atmosphere bands)
BEN_S2_BANDS = ('B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12')

EXCLUDE_LISTS = ('patches_with_cloud_and_shadow.csv', 'patches_with_seasonal_snow.csv')


def ben19_labels(names: Sequence[str], source: str) -> list[int]:
    """Map the 43-class names of one patch to sorted 19-class indices (unknown name: error)."""
    out: set[int] = set()
    for name in names:
        if name not in BEN43_TO_19:
            raise ValueError(f'{source}: unknown BigEarthNet label {name!r}')
        idx = BEN43_TO_19[name]
        if idx is not None:
            out.add(idx)
    return sorted(out)


def _read_names(path: str) -> list[str]:
    with open(path, newline='') as f:
        return [row[0].strip() for row in csv.reader(f) if row and row[0].strip()]


@DATASETS.register_module()
class BigEarthNetS2Dataset(BaseDataset):
    """Multi-label BigEarthNet-S2 (19 classes), one sample per patch folder.

    Args:
        data_root: the folder holding the split csv files.
        split: ``'train'``, ``'val'`` or ``'test'``; reads ``<split>.csv``.
        patch_dir: folder (under ``data_root``) holding the patch folders.
        train_ratio: fraction of the split kept (the paper's TR: 10% or 100% of train).
        seed: seed of the subset draw.
        bands: band names read per patch, in channel order.
        exclude_lists: csv files (under ``data_root``) of patches to drop when present
            (clouds, seasonal snow); the official split files already omit them.
        drop_unlabelled: drop patches whose labels all fall outside the 19 classes.
    """

    METAINFO = dict(classes=BEN19_CLASSES)

    def __init__(
        self,
        data_root: str,
        split: str = 'train',
        patch_dir: str = 'BigEarthNet-v1.0',
        train_ratio: float = 1.0,
        seed: int = 0,
        bands: Sequence[str] = BEN_S2_BANDS,
        exclude_lists: Sequence[str] = EXCLUDE_LISTS,
        drop_unlabelled: bool = True,
        **kwargs,
    ) -> None:
        if split not in ('train', 'val', 'test'):
            raise ValueError(f'split must be train, val or test, got {split!r}')
        self.split = split
        self.patch_dir = patch_dir
        self.train_ratio = train_ratio
        self.seed = seed
        self.bands = tuple(bands)
        self.exclude_lists = tuple(exclude_lists)
        self.drop_unlabelled = drop_unlabelled
        kwargs.setdefault('test_mode', split != 'train')
        super().__init__(ann_file=f'{split}.csv', data_root=data_root, **kwargs)

    def load_data_list(self) -> list[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'BigEarthNet split file not found: {self.ann_file}')
        names = _read_names(self.ann_file)
        excluded: set[str] = set()
        for fname in self.exclude_lists:
            path = osp.join(self.data_root, fname)
            if osp.isfile(path):
                excluded.update(_read_names(path))
        names = [n for n in names if n not in excluded]
        names = [names[i] for i in random_ratio_subset(len(names), self.train_ratio, self.seed)]
        root = osp.join(self.data_root, self.patch_dir)
        items = []
        for name in names:
            folder = osp.join(root, name)
            meta_path = osp.join(folder, f'{name}_labels_metadata.json')
            if not osp.isfile(meta_path):
                raise FileNotFoundError(f'BigEarthNet labels not found: {meta_path}')
            with open(meta_path) as f:
                meta = json.load(f)
            if 'labels' not in meta:
                raise KeyError(f'{meta_path}: no "labels" field')
            labels = ben19_labels(meta['labels'], meta_path)
            if not labels and self.drop_unlabelled:
                continue
            items.append(
                dict(
                    img_path=folder,
                    band_paths=[osp.join(folder, f'{name}_{b}.tif') for b in self.bands],
                    gt_label=labels,
                )
            )
        if not items:
            raise ValueError(f'{self.ann_file}: no labelled patch left in this split')
        return items

    def extra_repr(self) -> list[str]:
        return [f'Split: {self.split}', f'Train ratio: {self.train_ratio}', f'Seed: {self.seed}']
