"""PackSkySenseInputs: the view records of a sample -> ``dict(inputs=PretrainSample)``.

The views of each group are stacked field by field into a ``ViewGroup`` with the names the
crop wrote and the batch keeps (docs/interfaces.md): ``images``, ``valid_masks``,
``view_boxes``, ``view_geo_ops``, ``osm_label``.
"""

from collections.abc import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmskysense.registry import TRANSFORMS
from mmskysense.structures import GROUPS, PretrainSample, ViewGroup
from mmskysense.structures.modalities import modality_names


def _stack(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.stack(arrays)))


@TRANSFORMS.register_module()
class PackSkySenseInputs(BaseTransform):
    """Stack the view records of a sample into a ``PretrainSample``.

    Required keys: ``views`` (the crop's), ``date_masks``, ``doy``; optional ``region_id``,
    ``sample_idx``.

    Args:
        modalities: the modalities to pack, in this order (None: every modality the views
            hold, in the modality table's order).
    """

    def __init__(self, modalities: Sequence[str] | None = None) -> None:
        self.modalities = None if modalities is None else modality_names(modalities)

    def _group(self, views: list[dict], group: str, names: tuple[str, ...]) -> ViewGroup:
        for m in names:
            if m not in views[0]['images']:
                raise KeyError(
                    f'PackSkySenseInputs: {group} have no {m!r}; they hold '
                    f'{list(views[0]["images"])} (GeoMultiCrop(modalities=...) reads them)'
                )
        labels = [v.get('osm_label') for v in views]
        return ViewGroup(
            images={m: _stack([v['images'][m] for v in views]).float() for m in names},
            valid_masks={m: _stack([v['valid_masks'][m] for v in views]).bool() for m in names},
            view_boxes=_stack([v['view_boxes'] for v in views]).double(),
            view_geo_ops=_stack([v['view_geo_ops'] for v in views]).long(),
            # the label travels only when every view has one (a sample without osm.tif)
            osm_label=None if any(x is None for x in labels) else _stack(labels).long(),
        )

    def transform(self, results: dict) -> dict:
        for key in ('views', 'date_masks', 'doy'):
            if key not in results:
                raise KeyError(
                    f'PackSkySenseInputs needs {key!r}; run SampleTemporalFrames and '
                    f'GeoMultiCrop (or ImageMultiCrop) first'
                )
        for group in GROUPS:
            if not results['views'][group]:
                raise ValueError(
                    f'PackSkySenseInputs: no {group}; the crop must make at least one view '
                    f'per group'
                )
        held = tuple(results['views'][GROUPS[0]][0]['images'])
        names = self.modalities or tuple(m for m in modality_names() if m in held)
        groups = {g: self._group(results['views'][g], g, names) for g in GROUPS}
        series = [m for m in names if m in results['date_masks']]
        return dict(
            inputs=PretrainSample(
                **groups,
                date_masks={m: torch.from_numpy(results['date_masks'][m]).bool() for m in series},
                doy={m: torch.from_numpy(results['doy'][m]).long() for m in series},
                region_id=int(results.get('region_id', -1)),
                sample_idx=int(results.get('sample_idx', -1)),
            )
        )

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(modalities={self.modalities})'
