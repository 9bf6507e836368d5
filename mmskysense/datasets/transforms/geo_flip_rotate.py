"""Geometric augmentation of geo-aligned views: one flip/rotation per view, all modalities.

Every image, validity mask and label of a view gets the same ``(hflip, vflip, k)`` so they keep
showing the same ground; different views get independent draws. The ops are recorded in the
view (``view_geo_ops``) with the one convention of ``mmskysense.structures.view_geometry``, whose
``apply_geo_ops`` moves the pixels here and whose point maps pair the tokens in the losses.
"""

from typing import Any

import numpy as np
from mmcv.transforms import BaseTransform

from mmskysense.registry import TRANSFORMS
from mmskysense.structures import map_view_pixels
from mmskysense.structures.view_geometry import apply_geo_ops


@TRANSFORMS.register_module()
class GeoRandomFlipRotate(BaseTransform):
    """Random flips and 90-degree rotations, the same for every modality of a view.

    Required key: ``views`` (from ``GeoMultiCrop``). Modified: each view's pixel arrays and
    its ``view_geo_ops``.

    Args:
        hflip_prob: probability of a left-right flip.
        vflip_prob: probability of a top-bottom flip.
        rotate: draw k uniformly from {0, 1, 2, 3}; False keeps k = 0.
    """

    def __init__(
        self, hflip_prob: float = 0.5, vflip_prob: float = 0.5, rotate: bool = True
    ) -> None:
        for name, p in (('hflip_prob', hflip_prob), ('vflip_prob', vflip_prob)):
            if not 0 <= p <= 1:
                raise ValueError(f'{name} must be in [0, 1], got {p}')
        self.hflip_prob = hflip_prob
        self.vflip_prob = vflip_prob
        self.rotate = rotate

    def _augment(self, view: dict[str, Any]) -> None:
        if view.get('geo_augmented', False):
            # a second draw would not compose into one (hflip, vflip, k) record
            raise ValueError(
                'GeoRandomFlipRotate applied twice to the same view; the recorded '
                'geo_ops would no longer describe the pixels'
            )
        hflip = int(np.random.rand() < self.hflip_prob)
        vflip = int(np.random.rand() < self.vflip_prob)
        k = int(np.random.randint(0, 4)) if self.rotate else 0
        # every pixel array of the view, whatever its modalities (structures.map_view_pixels)
        map_view_pixels(view, lambda a: apply_geo_ops(a, hflip, vflip, k))
        view['geo_augmented'] = True
        view['view_geo_ops'] = np.array([hflip, vflip, k], dtype=np.int64)

    def transform(self, results: dict) -> dict:
        if 'views' not in results:
            raise KeyError('GeoRandomFlipRotate needs "views": put GeoMultiCrop before it')
        for group in results['views'].values():
            for view in group:
                self._augment(view)
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(hflip_prob={self.hflip_prob}, '
            f'vflip_prob={self.vflip_prob}, rotate={self.rotate})'
        )
