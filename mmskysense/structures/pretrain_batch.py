"""The pretraining record at its three levels, with one set of names (docs/interfaces.md):

* a view record (a dict of numpy arrays, written by the crop): ``images``, ``valid_masks``
  (modality -> array), ``view_boxes``, ``view_geo_ops`` and, with labels, ``osm_label``;
* a ``PretrainSample`` (``PackSkySenseInputs``): per view group a ``ViewGroup`` of those fields
  stacked over the views, plus ``date_masks``, ``doy``, ``region_id``, ``sample_idx``;
* a ``PretrainBatch`` (``SkySenseDataPreprocessor``): the samples stacked, read as it is by the
  algorithm and its heads.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

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


#: the fields of a view record that hold pixels (their last two axes are rows, cols)
PIXEL_FIELDS = ('images', 'valid_masks', 'osm_label')


def map_view_pixels(view: dict[str, Any], fn: Callable[[Any], Any]) -> None:
    """Replace every pixel array of a view record (each modality's image and validity, the
    label) by ``fn(array)``, in place: what moves one moves them all."""
    for name in PIXEL_FIELDS:
        value = view.get(name)
        if isinstance(value, dict):
            view[name] = {m: fn(a) for m, a in value.items()}
        elif value is not None:
            view[name] = fn(value)


@dataclass
class ViewGroup(_Mappable):
    """One view group: ``V`` views of a sample (leading axis ``V``), or of a batch of ``B``
    samples (leading axes ``B x V``); below, the batch's shapes.

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
        return self.view_boxes.shape[-2]


@dataclass
class PretrainSample(_Mappable):
    """One packed pretraining sample (``PackSkySenseInputs``): the batch's fields without the
    batch axis.

    Attributes:
        global_views, local_views: :class:`ViewGroup` s with leading axis ``V``.
        date_masks: time-series modality -> bool ``T``, False for padded dates.
        doy: time-series modality -> long ``T``, day of year 1..366 (0 for padding).
        region_id: the sample's geographic region (GCPL).
        sample_idx: the dataset index of the sample (errors name it).
    """

    global_views: ViewGroup
    local_views: ViewGroup
    date_masks: dict[str, Tensor] = field(default_factory=dict)
    doy: dict[str, Tensor] = field(default_factory=dict)
    region_id: int = -1
    sample_idx: int = -1

    def groups(self) -> Iterator[tuple[str, ViewGroup]]:
        """``(name, group)`` for the global then the local views."""
        return iter((name, getattr(self, name)) for name in GROUPS)


@dataclass
class PretrainBatch(_Mappable):
    """A collated pretraining batch (the ``inputs`` the algorithm's ``loss`` receives): the
    :class:`PretrainSample` fields with a leading batch axis.

    Attributes:
        global_views, local_views: the two :class:`ViewGroup` s.
        date_masks: time-series modality -> bool ``B x T``, False for padded dates.
        doy: time-series modality -> long ``B x T``, day of year 1..366 (0 for padding).
        region_id: long ``B``, the geographic region of each sample (GCPL).
        sample_idx: long ``B``, the dataset index of each sample.
    """

    global_views: ViewGroup
    local_views: ViewGroup
    date_masks: dict[str, Tensor] = field(default_factory=dict)
    doy: dict[str, Tensor] = field(default_factory=dict)
    region_id: Tensor | None = None
    sample_idx: Tensor | None = None

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
