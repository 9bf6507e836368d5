"""Folding a date-stacked batch back into a time series, and collecting its date masks.

``LoadTimeSeries`` stacks ``T`` dates of ``C`` bands into ``T*C`` channels so that the
libraries' transforms, packers and data preprocessors handle it; the models undo that here.
"""

import inspect
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn


def fold_dates(inputs: Tensor, bands_per_date: int) -> Tensor:
    """``B x (T*C) x H x W`` -> ``B x T x C x H x W`` with ``C = bands_per_date``."""
    if inputs.dim() == 5:
        return inputs
    b, tc, h, w = inputs.shape
    if tc % bands_per_date:
        raise ValueError(
            f'{tc} input channels are not a whole number of dates of {bands_per_date} bands'
        )
    return inputs.view(b, tc // bands_per_date, bands_per_date, h, w)


def collect_date_mask(
    metainfos: Sequence[dict] | None, num_dates: int, device: torch.device
) -> Tensor | None:
    """Stack the samples' ``date_mask`` metainfo into ``B x T`` (None when none is given)."""
    if not metainfos or 'date_mask' not in metainfos[0]:
        return None
    rows = []
    for meta in metainfos:
        mask = meta.get('date_mask')
        if mask is None:
            raise KeyError('some samples of the batch have a date_mask and others not')
        mask = torch.as_tensor(np.asarray(mask), dtype=torch.bool)
        if mask.numel() != num_dates:
            raise ValueError(f'date_mask has {mask.numel()} dates, the input {num_dates}')
        rows.append(mask)
    return torch.stack(rows).to(device)


def check_takes_date_mask(backbone: nn.Module, owner: str) -> None:
    """The temporal wrappers call ``backbone(series, date_mask=...)``: the single-modal edge
    (``SkySenseV2SingleModal``) takes that; the multi-modal core takes a dict and does not."""
    if 'date_mask' not in inspect.signature(backbone.forward).parameters:
        raise TypeError(
            f'{owner}: the backbone {type(backbone).__name__} is called as '
            f'backbone(series, date_mask=...) and does not take `date_mask`; use '
            f"type='SkySenseV2SingleModal' with the series' modality"
        )


def split_series(
    inputs: Tensor, bands_per_date: int, metainfos: Sequence[dict] | None
) -> tuple[Tensor, Tensor | None]:
    """Fold the inputs into dates and return them with the batch's date mask."""
    series = fold_dates(inputs, bands_per_date)
    return series, collect_date_mask(metainfos, series.shape[1], series.device)
