"""SkySenseDataSample: the per-sample annotations of a multi-view, multi-modal pretraining sample.

The fields are documented in docs/interfaces.md. Most of them are dicts of tensors (one entry per
view group or per modality); mmengine's ``BaseDataElement.to`` only moves values that have a
``.to`` method, so this class moves nested dicts itself.
"""

from collections.abc import Callable
from typing import Any

import torch
from mmengine.structures import BaseDataElement

NestedTensors = torch.Tensor | dict[str, Any]


def _map_nested(value: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Apply ``fn`` to every tensor inside nested dicts, keep other leaves as they are."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_nested(v, fn) for k, v in value.items()}
    return value


def _check_nested_tensors(name: str, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        return
    if not isinstance(value, dict):
        raise TypeError(
            f'SkySenseDataSample.{name} must be a tensor or a dict of tensors, '
            f'got {type(value).__name__}'
        )
    for key, item in value.items():
        _check_nested_tensors(f'{name}[{key!r}]', item)


class SkySenseDataSample(BaseDataElement):
    """Annotations of one pretraining sample (see docs/interfaces.md).

    Data fields: ``valid_masks``, ``date_masks``, ``doy``, ``view_boxes``, ``view_geo_ops``,
    ``osm_label`` (optional), ``region_id``. Meta fields: ``sample_idx``, ``crs``.
    """

    def _nested_property(name: str) -> property:  # type: ignore[misc]
        private = f'_{name}'

        def getter(self: 'SkySenseDataSample') -> NestedTensors:
            return getattr(self, private)

        def setter(self: 'SkySenseDataSample', value: NestedTensors) -> None:
            _check_nested_tensors(name, value)
            self.set_field(value, private, dtype=(dict, torch.Tensor))

        def deleter(self: 'SkySenseDataSample') -> None:
            delattr(self, private)

        return property(getter, setter, deleter, doc=f'nested tensors: {name}')

    valid_masks = _nested_property('valid_masks')
    date_masks = _nested_property('date_masks')
    doy = _nested_property('doy')
    view_boxes = _nested_property('view_boxes')
    view_geo_ops = _nested_property('view_geo_ops')
    osm_label = _nested_property('osm_label')
    del _nested_property

    @property
    def region_id(self) -> int:
        return self._region_id

    @region_id.setter
    def region_id(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f'SkySenseDataSample.region_id must be an int, got {value!r}')
        self.set_field(value, '_region_id', dtype=int)

    @region_id.deleter
    def region_id(self) -> None:
        del self._region_id

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> 'SkySenseDataSample':
        new_data = self.new()
        for key, value in self.items():
            setattr(new_data, key, _map_nested(value, fn))
        return new_data

    def to(self, *args, **kwargs) -> 'SkySenseDataSample':
        """Move every tensor, nested dicts included, like ``Tensor.to``."""
        return self._apply(lambda t: t.to(*args, **kwargs))

    def cpu(self) -> 'SkySenseDataSample':
        return self._apply(lambda t: t.cpu())

    def cuda(self) -> 'SkySenseDataSample':
        return self._apply(lambda t: t.cuda())

    def detach(self) -> 'SkySenseDataSample':
        return self._apply(lambda t: t.detach())
