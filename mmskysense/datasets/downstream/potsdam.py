"""ISPRS Potsdam 2D semantic labelling: 6000 x 6000 tiles at 5 cm, six classes incl. clutter.

The release's tiles (``2_Ortho_RGB/top_potsdam_<id>_RGB.tif`` and colour-coded
``5_Labels_all_noBoundary/top_potsdam_<id>_label_noBoundary.tif``) are cut into 512 px patches
by ``tools/dataset_converters/potsdam.py``, which writes the layout this class reads::

    data_root/img_dir/{train,val}/<id>_<y>_<x>.png        RGB patches
    data_root/ann_dir/{train,val}/<id>_<y>_<x>.png        class ids 0..5, 255 = eroded boundary

mmsegmentation's Potsdam converter writes ``<id>_<x0>_<y0>_<x1>_<y1>.png`` patches whose ids are
shifted by one (0 = boundary, 1..6 = the classes; its dataset sets ``reduce_zero_label=True``).
Such patches are recognised by their names and need ``reduce_zero_label=True`` here too; without
it the classes would be silently off by one, so that is an error.
"""

import os
import os.path as osp
import re

from mmseg.datasets import BaseSegDataset

from mmskysense.registry import DATASETS

# mmsegmentation's converter names patches <i>_<j>_<x0>_<y0>_<x1>_<y1>.png (ours <i>_<j>_<y>_<x>)
_MMSEG_PATCH = re.compile(r'^\d+_\d+_\d+_\d+_\d+_\d+\.png$')

POTSDAM_CLASSES = ('impervious_surface', 'building', 'low_vegetation', 'tree', 'car', 'clutter')

# RGB colour codes of the label tiles, in class order
POTSDAM_PALETTE = [
    [255, 255, 255],
    [0, 0, 255],
    [0, 255, 255],
    [0, 255, 0],
    [255, 255, 0],
    [255, 0, 0],
]

# the official split of the 38 tiles: 24 for training, 14 for testing
POTSDAM_TRAIN_TILES = (
    '2_10',
    '2_11',
    '2_12',
    '3_10',
    '3_11',
    '3_12',
    '4_10',
    '4_11',
    '4_12',
    '5_10',
    '5_11',
    '5_12',
    '6_7',
    '6_8',
    '6_9',
    '6_10',
    '6_11',
    '6_12',
    '7_7',
    '7_8',
    '7_9',
    '7_10',
    '7_11',
    '7_12',
)
POTSDAM_TEST_TILES = (
    '2_13',
    '2_14',
    '3_13',
    '3_14',
    '4_13',
    '4_14',
    '4_15',
    '5_13',
    '5_14',
    '5_15',
    '6_13',
    '6_14',
    '6_15',
    '7_13',
)


@DATASETS.register_module()
class PotsdamDataset(BaseSegDataset):
    """Potsdam patches produced by the converter (metric: mF1, with mIoU alongside)."""

    METAINFO = dict(classes=POTSDAM_CLASSES, palette=POTSDAM_PALETTE)

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png', **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    def load_data_list(self) -> list[dict]:
        items = super().load_data_list()
        ann_dir = self.data_prefix.get('seg_map_path', '')
        if not self.reduce_zero_label and osp.isdir(ann_dir):
            mmseg_named = [f for f in os.listdir(ann_dir) if _MMSEG_PATCH.match(f)]
            if mmseg_named:
                raise ValueError(
                    f'{ann_dir} holds patches of the mmsegmentation Potsdam converter (e.g. '
                    f'{mmseg_named[0]}), whose class ids start at 1 (0 = boundary): build '
                    f'PotsdamDataset with reduce_zero_label=True, or convert with '
                    f'tools/dataset_converters/potsdam.py'
                )
        return items
