"""fMoW-Sentinel (Cong et al. 2022, SatMAE): Sentinel-2 images of the fMoW locations, 62 classes.

Official release layout (``fmow-sentinel``)::

    fmow-sentinel/
      train.csv  val.csv  test_gt.csv      columns: category, location_id, image_id, timestamp, ...
      train/<category>/<category>_<location_id>/<category>_<location_id>_<image_id>.tif
      val/...  test_gt/...                 13-band GeoTIFFs (B1..B12 with B8A after B8)

SatMAE classifies single images; the paper's fMoW-S2 is temporal, so one sample here is a
location: all its images sorted by timestamp, labelled with the location's category.
"""

import csv
import os.path as osp

from mmpretrain.datasets import BaseDataset

from mmskysense.registry import DATASETS

FMOW_CLASSES = (
    'airport',
    'airport_hangar',
    'airport_terminal',
    'amusement_park',
    'aquaculture',
    'archaeological_site',
    'barn',
    'border_checkpoint',
    'burial_site',
    'car_dealership',
    'construction_site',
    'crop_field',
    'dam',
    'debris_or_rubble',
    'educational_institution',
    'electric_substation',
    'factory_or_powerplant',
    'fire_station',
    'flooded_road',
    'fountain',
    'gas_station',
    'golf_course',
    'ground_transportation_station',
    'helipad',
    'hospital',
    'impoverished_settlement',
    'interchange',
    'lake_or_pond',
    'lighthouse',
    'military_facility',
    'multi-unit_residential',
    'nuclear_powerplant',
    'office_building',
    'oil_or_gas_facility',
    'park',
    'parking_lot_or_garage',
    'place_of_worship',
    'police_station',
    'port',
    'prison',
    'race_track',
    'railway_bridge',
    'recreational_facility',
    'road_bridge',
    'runway',
    'shipyard',
    'shopping_mall',
    'single-unit_residential',
    'smokestack',
    'solar_farm',
    'space_facility',
    'stadium',
    'storage_tank',
    'surface_mine',
    'swimming_pool',
    'toll_booth',
    'tower',
    'tunnel_opening',
    'waste_disposal',
    'water_treatment_facility',
    'wind_farm',
    'zoo',
)

# 1-based bands of the 13-band files matching the backbone's s2 modality
# (B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12; B1, B9, B10 dropped as in SatMAE)
FMOW_S2_BANDS = (2, 3, 4, 5, 6, 7, 8, 9, 12, 13)

SPLIT_FILES = {'train': 'train.csv', 'val': 'val.csv', 'test': 'test_gt.csv'}
SPLIT_DIRS = {'train': 'train', 'val': 'val', 'test': 'test_gt'}
REQUIRED_COLUMNS = ('category', 'location_id', 'image_id', 'timestamp')


@DATASETS.register_module()
class FMoWSentinelDataset(BaseDataset):
    """Temporal fMoW-Sentinel: one sample per (category, location) with its dated images.

    Args:
        data_root: the ``fmow-sentinel`` folder.
        split: ``'train'``, ``'val'`` or ``'test'`` (``test_gt.csv``).
        kwargs: passed to mmpretrain's ``BaseDataset``.
    """

    METAINFO = dict(classes=FMOW_CLASSES)

    def __init__(self, data_root: str, split: str = 'train', **kwargs) -> None:
        if split not in SPLIT_FILES:
            raise ValueError(f'split must be one of {tuple(SPLIT_FILES)}, got {split!r}')
        self.split = split
        kwargs.setdefault('test_mode', split != 'train')
        super().__init__(ann_file=SPLIT_FILES[split], data_root=data_root, **kwargs)

    def load_data_list(self) -> list[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'fMoW-Sentinel index not found: {self.ann_file}')
        index = {name: i for i, name in enumerate(self.metainfo['classes'])}
        image_dir = osp.join(self.data_root, SPLIT_DIRS[self.split])
        groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
        with open(self.ann_file, newline='') as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise KeyError(f'{self.ann_file}: missing columns {missing}')
            for line, row in enumerate(reader, start=2):
                cat = row['category']
                if cat not in index:
                    raise ValueError(f'{self.ann_file} line {line}: unknown category {cat!r}')
                loc = row['location_id']
                stem = f'{cat}_{loc}'
                path = osp.join(image_dir, cat, stem, f'{stem}_{row["image_id"]}.tif')
                groups.setdefault((cat, loc), []).append((row['timestamp'], path))
        items = []
        for (cat, loc), dated in sorted(groups.items()):
            dated.sort()  # ISO timestamps sort chronologically
            items.append(
                dict(
                    img_path=dated[0][1],
                    img_paths=[p for _, p in dated],
                    timestamps=[t for t, _ in dated],
                    gt_label=index[cat],
                    location=f'{cat}_{loc}',
                )
            )
        if not items:
            raise ValueError(f'{self.ann_file}: no images listed')
        return items

    def extra_repr(self) -> list[str]:
        return [f'Split: {self.split}']
