"""iSAID (Zamir et al. 2019) semantic segmentation: 15 object classes plus background.

The release pairs DOTA-v1.0 images with colour-coded semantic masks; images are up to ~13k px,
so they are cut into patches first, by ``tools/dataset_converters/isaid.py`` or by
mmsegmentation's converter of the same name (896 px windows with a 512 px stride). Both write
the layout this class reads::

    data_root/img_dir/{train,val}/P0000_<y0>_<y1>_<x0>_<x1>.png                     RGB patches
    data_root/ann_dir/{train,val}/P0000_<y0>_<y1>_<x0>_<x1>_instance_color_RGB.png  class ids

The annotation patches hold class ids 0..15 (0 = background), despite the suffix, which
mmsegmentation's converter keeps from the release's colour masks (its ``iSAIDDataset`` reads
them with ``seg_map_suffix='_instance_color_RGB.png'``, and so does this class). mmsegmentation
writes its image patches in BMP format under a ``.png`` name; OpenCV reads them by content.
"""

from mmseg.datasets import BaseSegDataset

from mmskysense.registry import DATASETS

ISAID_CLASSES = (
    'background',
    'ship',
    'store_tank',
    'baseball_diamond',
    'tennis_court',
    'basketball_court',
    'Ground_Track_Field',
    'Bridge',
    'Large_Vehicle',
    'Small_Vehicle',
    'Helicopter',
    'Swimming_pool',
    'Roundabout',
    'Soccer_ball_field',
    'plane',
    'Harbor',
)

# RGB colour of each class in the release's ``*_instance_color_RGB.png`` masks
ISAID_PALETTE = [
    [0, 0, 0],
    [0, 0, 63],
    [0, 63, 63],
    [0, 63, 0],
    [0, 63, 127],
    [0, 63, 191],
    [0, 63, 255],
    [0, 127, 63],
    [0, 127, 127],
    [0, 0, 127],
    [0, 0, 191],
    [0, 0, 255],
    [0, 191, 127],
    [0, 127, 191],
    [0, 127, 255],
    [0, 100, 155],
]


@DATASETS.register_module()
class ISAIDDataset(BaseSegDataset):
    """iSAID patches produced by the converter (metric: mIoU over the 16 classes)."""

    METAINFO = dict(classes=ISAID_CLASSES, palette=ISAID_PALETTE)

    def __init__(
        self, img_suffix: str = '.png', seg_map_suffix: str = '_instance_color_RGB.png', **kwargs
    ) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
