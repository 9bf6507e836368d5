"""Folding date-stacked channels back into a series and gathering date masks."""

import numpy as np
import pytest
import torch

from mmskysense.models.utils.temporal_inputs import collect_date_mask, fold_dates, split_series


def test_fold_dates_is_date_major():
    x = torch.arange(2 * 6 * 1 * 1, dtype=torch.float32).view(2, 6, 1, 1)
    series = fold_dates(x, bands_per_date=2)
    assert series.shape == (2, 3, 2, 1, 1)
    assert series[0, 1, :, 0, 0].tolist() == [2.0, 3.0]
    with pytest.raises(ValueError, match='whole number of dates'):
        fold_dates(x, bands_per_date=4)


def test_collect_date_mask():
    metas = [dict(date_mask=np.array([True, False])), dict(date_mask=np.array([True, True]))]
    mask = collect_date_mask(metas, 2, torch.device('cpu'))
    assert mask.tolist() == [[True, False], [True, True]]
    assert collect_date_mask([dict()], 2, torch.device('cpu')) is None
    with pytest.raises(ValueError, match='date_mask has 2 dates, the input 3'):
        collect_date_mask(metas, 3, torch.device('cpu'))
    series, m = split_series(torch.zeros(2, 4, 3, 3), 2, metas)
    assert series.shape == (2, 2, 2, 3, 3) and m.shape == (2, 2)
