"""BigEarthNet-S2 (Sumbul et al. 2019) with the 19-class nomenclature (Sumbul et al. 2020).

Official release layout (``BigEarthNet-v1.0``)::

    BigEarthNet-v1.0/
      S2A_MSIL2A_20170613T101031_0_45/
        S2A_MSIL2A_20170613T101031_0_45_B01.tif ... _B12.tif, _B8A.tif   (12 bands, 120/60/20 px)
        S2A_MSIL2A_20170613T101031_0_45_labels_metadata.json              ("labels": [CLC names])
    train.csv  val.csv  test.csv   (one patch name per line; the bigearthnet-models split)
    patches_with_cloud_and_shadow.csv  patches_with_seasonal_snow.csv    (optional, excluded)

The json holds the 43 CORINE level-3 names; they are mapped to the 19 classes here as the
official nomenclature does (``label_indices.json`` of the BigEarthNet-S2_19-classes_models
repository, ``label_conversion``): 11 names have no 19-class counterpart and are dropped (airports,
bare rock, burnt areas, construction sites, dump sites, green urban areas, intertidal flats,
mineral extraction sites, port areas, road and rail networks, sport and leisure facilities).
"""

import csv
import json
import os.path as osp
from collections.abc import Sequence

from mmpretrain.datasets import BaseDataset

from mmskysense.registry import DATASETS

from .multimodal import select_modalities
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
    'Intertidal flats': None,
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


def _read_rows(path: str) -> list[list[str]]:
    with open(path, newline='') as f:
        return [[c.strip() for c in row] for row in csv.reader(f) if row and row[0].strip()]


def _read_names(path: str) -> list[str]:
    return [row[0] for row in _read_rows(path)]


def _read_json(path: str, what: str) -> dict:
    if not osp.isfile(path):
        raise FileNotFoundError(f'BigEarthNet {what} not found: {path}')
    with open(path) as f:
        meta = json.load(f)
    if 'labels' not in meta:
        raise KeyError(f'{path}: no "labels" field')
    return meta


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

    def _split_rows(self) -> list[list[str]]:
        """The split file's rows (S2 patch name first), cloud/snow patches dropped, subset drawn."""
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'BigEarthNet split file not found: {self.ann_file}')
        rows = _read_rows(self.ann_file)
        excluded: set[str] = set()
        for fname in self.exclude_lists:
            path = osp.join(self.data_root, fname)
            if osp.isfile(path):
                excluded.update(_read_names(path))
        rows = [r for r in rows if r[0] not in excluded]
        return [rows[i] for i in random_ratio_subset(len(rows), self.train_ratio, self.seed)]

    def _s2_item(self, name: str) -> tuple[dict, list[int]]:
        folder = osp.join(self.data_root, self.patch_dir, name)
        meta_path = osp.join(folder, f'{name}_labels_metadata.json')
        labels = ben19_labels(_read_json(meta_path, 'labels')['labels'], meta_path)
        item = dict(
            img_path=folder,
            band_paths=[osp.join(folder, f'{name}_{b}.tif') for b in self.bands],
            gt_label=labels,
        )
        return item, labels

    def _make_item(self, row: list[str]) -> dict:
        return self._s2_item(row[0])[0]

    def load_data_list(self) -> list[dict]:
        items = []
        for row in self._split_rows():
            item = self._make_item(row)
            if not item['gt_label'] and self.drop_unlabelled:
                continue
            items.append(item)
        if not items:
            raise ValueError(f'{self.ann_file}: no labelled patch left in this split')
        return items

    def extra_repr(self) -> list[str]:
        return [f'Split: {self.split}', f'Train ratio: {self.train_ratio}', f'Seed: {self.seed}']


# the backbone's s1 modality, in its order; BigEarthNet-S1 v1.0 stores sigma0 in dB (float32)
BEN_S1_BANDS = ('VV', 'VH')


@DATASETS.register_module()
class BigEarthNetMMDataset(BigEarthNetS2Dataset):
    """BEN-MM (Sumbul et al. 2021): BigEarthNet-S1 v1.0 beside BigEarthNet-S2, 19 classes.

    Release layout (both archives extracted under ``data_root``)::

        BigEarthNet-v1.0/<S2 patch>/<S2 patch>_B01.tif ... _B12.tif, _labels_metadata.json
        BigEarthNet-S1-v1.0/<S1 patch>/<S1 patch>_VV.tif, _VH.tif    120 x 120, float32 dB
        BigEarthNet-S1-v1.0/<S1 patch>/<S1 patch>_labels_metadata.json
            {"labels": [...], "corresponding_s2_patch": "<S2 patch>", ...}
        train.csv  val.csv  test.csv      "<S2 patch>,<S1 patch>" per line (BigEarthNet-MM splits)
        s1s2_mapping.csv                  "<S2 patch>,<S1 patch>" (only read for one-column splits;
                                          not shipped: tools/dataset_converters/bigearthnet_mm.py)

    Each sample holds ``modalities``: ``s2`` (the 10 bands of ``bands``, one file each) and/or
    ``s1`` (VV, VH). The S1 json must name the S2 patch of its pair and carry the same labels
    (the release's own tools assert both); a mismatch is an error naming the json.

    Args:
        modalities: which of ``'s2'``, ``'s1'`` a sample loads (Table 3c: ``('s1',)``,
            ``('s2', 's1')``).
        s1_dir: folder of the S1 patch folders under ``data_root``.
        s1_bands: S1 polarisations read, in channel order.
        mapping_file: the S2 -> S1 pairing used when a split file has one column.
        kwargs: ``BigEarthNetS2Dataset`` arguments.
    """

    MODALITIES = ('s2', 's1')

    def __init__(
        self,
        *args,
        modalities: Sequence[str] = ('s2', 's1'),
        s1_dir: str = 'BigEarthNet-S1-v1.0',
        s1_bands: Sequence[str] = BEN_S1_BANDS,
        mapping_file: str = 's1s2_mapping.csv',
        **kwargs,
    ) -> None:
        self.modalities = select_modalities('BigEarthNetMMDataset', modalities, self.MODALITIES)
        self.s1_dir = s1_dir
        self.s1_bands = tuple(s1_bands)
        self.mapping_file = mapping_file
        self._mapping: dict[str, str] | None = None
        super().__init__(*args, **kwargs)

    def _s1_name(self, row: list[str]) -> str:
        if len(row) > 1 and row[1]:
            return row[1]
        if self._mapping is None:
            path = osp.join(self.data_root, self.mapping_file)
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'{self.ann_file} names S2 patches only and the S2 -> S1 mapping '
                    f"{path} is missing; write it from the release's S1 metadata "
                    f'(python tools/dataset_converters/bigearthnet_mm.py {self.data_root}) or '
                    f'use the BigEarthNet-MM split files ("<S2>,<S1>")'
                )
            self._mapping = {r[0]: r[1] for r in _read_rows(path) if len(r) > 1}
        if row[0] not in self._mapping:
            raise KeyError(f'{self.mapping_file}: no S1 patch for {row[0]}')
        return self._mapping[row[0]]

    def _make_item(self, row: list[str]) -> dict:
        item, labels = self._s2_item(row[0])
        s1_name = self._s1_name(row)
        s1_folder = osp.join(self.data_root, self.s1_dir, s1_name)
        s1_meta_path = osp.join(s1_folder, f'{s1_name}_labels_metadata.json')
        s1_meta = _read_json(s1_meta_path, 'S1 labels')
        pair = s1_meta.get('corresponding_s2_patch')
        if pair != row[0]:
            raise ValueError(
                f'{s1_meta_path}: corresponding_s2_patch is {pair!r}, but the split file '
                f'{self.ann_file} pairs it with {row[0]!r}'
            )
        if ben19_labels(s1_meta['labels'], s1_meta_path) != labels:
            raise ValueError(
                f'{s1_meta_path}: labels {s1_meta["labels"]} differ from those of its S2 '
                f'patch {row[0]}'
            )
        mods = {}
        if 's2' in self.modalities:
            mods['s2'] = dict(band_paths=item.pop('band_paths'))
        else:
            item.pop('band_paths')
        if 's1' in self.modalities:
            mods['s1'] = dict(
                band_paths=[osp.join(s1_folder, f'{s1_name}_{b}.tif') for b in self.s1_bands]
            )
        item.update(modalities=mods, s1_path=s1_folder)
        return item
