"""Helpers shared by the model wrappers (no registered modules)."""

from .multimodal_inputs import collect_modality_meta, encode_multimodal
from .temporal_inputs import check_takes_date_mask, collect_date_mask, fold_dates, split_series

__all__ = [
    'check_takes_date_mask',
    'collect_date_mask',
    'fold_dates',
    'split_series',
    'collect_modality_meta',
    'encode_multimodal',
]
