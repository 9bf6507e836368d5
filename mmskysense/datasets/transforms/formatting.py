"""PackSkySenseInputs: views and their annotations -> ``dict(inputs, data_samples)``.

Produces exactly the pretraining sample of docs/interfaces.md: stacked view tensors per group
and modality, and a ``SkySenseDataSample`` with masks, dates, boxes, geometric ops, labels.
"""

from collections.abc import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmskysense.registry import TRANSFORMS
from mmskysense.structures import GROUPS, SkySenseDataSample
from mmskysense.structures.modalities import modality_names, series_names

from ..raster_io import crs_to_wkt


def _stack(views: list[dict], key: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.stack([v[key] for v in views])))


@TRANSFORMS.register_module()
class PackSkySenseInputs(BaseTransform):
    """Pack the views of a sample into tensors and a ``SkySenseDataSample``.

    Required keys: ``views``, ``date_masks``, ``doy``, ``region_id``, ``sample_idx``, ``crs``.

    Args:
        modalities: the modalities to pack, in this order.
    """

    def __init__(self, modalities: Sequence[str] | None = None) -> None:
        self.modalities = modality_names(modalities)  # None: every modality of the table

    def transform(self, results: dict) -> dict:
        for key in ('views', 'date_masks', 'doy'):
            if key not in results:
                raise KeyError(
                    f'PackSkySenseInputs needs {key!r}; run SampleTemporalFrames and '
                    f'GeoMultiCrop first'
                )
        inputs: dict[str, dict[str, torch.Tensor]] = {}
        valid_masks: dict[str, dict[str, torch.Tensor]] = {}
        boxes, ops, labels = {}, {}, {}
        for group in GROUPS:
            views = results['views'][group]
            if not views:
                raise ValueError(
                    f'PackSkySenseInputs: no {group}; GeoMultiCrop must make at '
                    f'least one view per group'
                )
            inputs[group] = {m: _stack(views, m).float() for m in self.modalities}
            valid_masks[group] = {m: _stack(views, f'{m}_valid').bool() for m in self.modalities}
            boxes[group] = _stack(views, 'box').double()
            ops[group] = _stack(views, 'geo_ops').long()
            if all('osm' in v for v in views):
                labels[group] = _stack(views, 'osm').long()
        sample = SkySenseDataSample(
            metainfo=dict(
                sample_idx=int(results.get('sample_idx', -1)),
                # a plain image (ImageMultiCrop) has no CRS: its boxes are in pixels
                crs=crs_to_wkt(results['crs']) if results['crs'] is not None else '',
                sample_id=str(results.get('sample_id', '')),
            )
        )
        sample.valid_masks = valid_masks
        series = [m for m in series_names(self.modalities) if m in results['date_masks']]
        sample.date_masks = {m: torch.from_numpy(results['date_masks'][m]).bool() for m in series}
        sample.doy = {m: torch.from_numpy(results['doy'][m]).long() for m in series}
        sample.view_boxes = boxes
        sample.view_geo_ops = ops
        if len(labels) == len(GROUPS):
            sample.osm_label = labels
        sample.region_id = int(results.get('region_id', -1))
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(modalities={self.modalities})'
