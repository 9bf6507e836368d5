"""Plain image chips as a pretraining source of the HR path (issue 24).

Most users' unlabelled imagery is aerial or satellite RGB, often as JPEG/PNG/TIFF chips without
a CRS (AID's layout, an export of tiles). As an image folder is for mmpretrain's
self-supervised algorithms, such a folder is a pretraining source here: each image is one
sample of the HR modality alone, cropped into views by ``ImageMultiCrop`` (the pixel grid
stands in for the ground, so the views' boxes pair their tokens as geo views' do).
"""

import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

from mmengine.dataset import BaseDataset

from mmskysense.registry import DATASETS

from .image_split import IMAGE_EXTENSIONS, load_image_split


def list_images(root: str) -> list[str]:
    """Every image under ``root`` (by extension, any depth), relative to it, sorted."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'image folder {root!r} does not exist or is not a folder')
    found = []
    for folder, _, files in os.walk(root):
        for f in files:
            if osp.splitext(f)[1].lower() in IMAGE_EXTENSIONS:
                found.append(osp.relpath(osp.join(folder, f), root))
    if not found:
        raise FileNotFoundError(
            f'image folder {root!r} holds no image ({", ".join(IMAGE_EXTENSIONS)}) at any depth'
        )
    return sorted(found)


@DATASETS.register_module()
class ImageFolderPretrainDataset(BaseDataset):
    """Unlabelled RGB images for HR-only pretraining (no labels are read).

    Args:
        data_root: the folder of images (any depth).
        split_file: optional split of ``tools/dataset_converters/make_image_split.py``: only
            its ``pretrain`` images are used, so the study's k-NN images stay unseen.
        pipeline: ``ImageMultiCrop`` -> ``GeoRandomFlipRotate`` -> photometric augmentations
            -> ``PackSkySenseInputs(modalities=('hr',))``.
        **kwargs: passed to ``mmengine.dataset.BaseDataset``.
    """

    METAINFO: dict = dict(modalities=('hr',))

    def __init__(
        self,
        data_root: str,
        split_file: str | None = None,
        pipeline: Sequence[dict | Any] = (),
        **kwargs: Any,
    ) -> None:
        self.split_file = split_file
        super().__init__(data_root=data_root, ann_file='', pipeline=list(pipeline), **kwargs)

    def load_data_list(self) -> list[dict]:
        if self.split_file:
            paths = load_image_split(self.split_file)['pretrain']
            if not paths:
                raise ValueError(f'image split {self.split_file!r}: "pretrain" is empty')
        else:
            paths = list_images(self.data_root)
        return [dict(sample_id=p, img_path=osp.join(self.data_root, p), region_id=0) for p in paths]

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info['sample_idx'] = idx
        return info
