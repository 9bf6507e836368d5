"""The pretraining batch: one typed structure, built once by ``SkySenseDataPreprocessor`` from the
packed samples and read as it is by the algorithm and its heads (docs/interfaces.md).

The per-sample annotations (``SkySenseDataSample``) and the batch use the same names:
``valid_masks``, ``view_boxes``, ``view_geo_ops`` and ``osm_label`` per view group,
``date_masks``, ``doy`` per time-series modality, and ``region_id``.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields

import torch
from torch import Tensor

#: the two view groups of the multi-crop (paper section 3.2), in this order everywhere
GROUPS = ('global_views', 'local_views')


def _map(value, fn: Callable[[Tensor], Tensor]):
    if isinstance(value, _Mappable):
        return value.apply(fn)
    if isinstance(value, Tensor):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map(v, fn) for k, v in value.items()}
    return value


class _Mappable:
    """``to`` / ``cpu`` / ``cuda`` over every tensor field, nested dicts included."""

    def apply(self, fn: Callable[[Tensor], Tensor]):
        return type(self)(**{f.name: _map(getattr(self, f.name), fn) for f in fields(self)})

    def to(self, *args, **kwargs):
        return self.apply(lambda t: t.to(*args, **kwargs))

    def cpu(self):
        return self.apply(lambda t: t.cpu())

    def cuda(self):
        return self.apply(lambda t: t.cuda())


@dataclass
class ViewGroup(_Mappable):
    """One view group of a batch of ``B`` samples with ``V`` views each.

    Attributes:
        images: modality -> normalised ``B x V x C x H x W`` (an image) or
            ``B x V x T x C x h x w`` (a time series); 0 where there is no data.
        valid_masks: modality -> bool ``B x V x H x W`` / ``B x V x T x h x w``, True where the
            pixel holds data.
        view_boxes: float64 ``B x V x 4``, ground boxes ``(minx, miny, maxx, maxy)``.
        view_geo_ops: long ``B x V x 3``, ``(hflip, vflip, k)`` (``structures.view_geometry``).
        osm_label: long ``B x V x H x W`` on the first modality's grid, 255 = unlabelled; None
            when the samples have no label raster.
    """

    images: dict[str, Tensor]
    valid_masks: dict[str, Tensor]
    view_boxes: Tensor
    view_geo_ops: Tensor
    osm_label: Tensor | None = None

    @property
    def num_views(self) -> int:
        return self.view_boxes.shape[1]


@dataclass
class PretrainBatch(_Mappable):
    """A collated pretraining batch (the ``inputs`` the algorithm's ``loss`` receives).

    Attributes:
        global_views, local_views: the two :class:`ViewGroup` s.
        date_masks: time-series modality -> bool ``B x T``, False for padded dates.
        doy: time-series modality -> long ``B x T``, day of year 1..366 (0 for padding).
        region_id: long ``B``, the geographic region of each sample (GCPL).
    """

    global_views: ViewGroup
    local_views: ViewGroup
    date_masks: dict[str, Tensor] = field(default_factory=dict)
    doy: dict[str, Tensor] = field(default_factory=dict)
    region_id: Tensor | None = None

    def groups(self) -> Iterator[tuple[str, ViewGroup]]:
        """``(name, group)`` for the global then the local views."""
        return iter((name, getattr(self, name)) for name in GROUPS)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.global_views.images)

    @property
    def batch_size(self) -> int:
        return self.global_views.view_boxes.shape[0]

    @property
    def device(self) -> torch.device:
        return self.global_views.view_boxes.device


@dataclass
class EncodedViews:
    """What the backbone and the fusion give for one view group; every tensor keeps ``B x V``.

    Attributes:
        maps: modality -> ``B x V x C x h x w`` last-stage maps (a series: the mean over the
            dates that hold data at each location).
        map_masks: modality -> bool ``B x V x h x w``, True where a token holds data.
        fused: ``B x V x D x h x w`` F_fus on the HR stage-4 grid.
        fused_mask: bool ``B x V x h x w``.
    """

    maps: dict[str, Tensor]
    map_masks: dict[str, Tensor]
    fused: Tensor
    fused_mask: Tensor
