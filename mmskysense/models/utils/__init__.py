"""Helpers shared by the model wrappers (no registered modules)."""

from .temporal_inputs import collect_date_mask, fold_dates, split_series

__all__ = ['collect_date_mask', 'fold_dates', 'split_series']
