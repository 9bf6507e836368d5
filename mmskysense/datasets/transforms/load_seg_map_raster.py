"""Load a class-index raster (GeoTIFF) as ``gt_seg_map``, with the image's nodata ignored."""

import os.path as osp

import numpy as np
from mmcv.transforms import BaseTransform

from mmskysense.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadSegMapFromRaster(BaseTransform):
    """Read ``results['seg_map_path']`` (one band of class indices) with rasterio.

    Pixels where the image (``results['img_path']``) has no data in any band get
    ``ignore_index``: a label over a hole in the image is not evidence the model can use, and
    must not count in the loss or the metric.

    Args:
        ignore_index: the label of unlabelled pixels (mmseg's default 255).
        mask_image_nodata: set the label to ``ignore_index`` where the image has no data.
        num_classes: when given, labels other than ``0..num_classes-1`` and ``ignore_index``
            raise an error naming the file.
    """

    def __init__(
        self,
        ignore_index: int = 255,
        mask_image_nodata: bool = True,
        num_classes: int | None = None,
    ) -> None:
        self.ignore_index = ignore_index
        self.mask_image_nodata = mask_image_nodata
        self.num_classes = num_classes

    def transform(self, results: dict) -> dict:
        import rasterio

        path = results.get('seg_map_path')
        if path is None:
            raise KeyError('LoadSegMapFromRaster needs "seg_map_path" in results')
        if not osp.isfile(path):
            raise FileNotFoundError(f'label raster not found: {path}')
        with rasterio.open(path) as src:
            if src.count != 1:
                raise ValueError(f'{path} has {src.count} bands, expected 1 band of class indices')
            seg = src.read(1)
            label_shape = (src.height, src.width)
        if not np.issubdtype(seg.dtype, np.integer):
            raise ValueError(f'{path} holds {seg.dtype} values, expected integer class indices')
        seg = seg.astype(np.int64)
        if self.num_classes is not None:
            bad = np.setdiff1d(np.unique(seg), list(range(self.num_classes)) + [self.ignore_index])
            if bad.size:
                raise ValueError(
                    f'{path} has labels {bad.tolist()[:10]} outside 0..'
                    f'{self.num_classes - 1} and the ignore index {self.ignore_index}'
                )
        if self.mask_image_nodata and results.get('img_path'):
            with rasterio.open(results['img_path']) as img:
                if (img.height, img.width) != label_shape:
                    raise ValueError(
                        f'{path} is {label_shape[0]}x{label_shape[1]} but the image '
                        f'{results["img_path"]} is {img.height}x{img.width}'
                    )
                valid = (img.read_masks() > 0).any(axis=0)
            seg[~valid] = self.ignore_index
        results['gt_seg_map'] = seg.astype(np.uint8) if seg.max() < 256 else seg
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results
