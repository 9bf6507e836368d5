"""Helpers shared by the model wrappers (no registered modules)."""

from .multimodal_inputs import collect_modality_meta, encode_multimodal
from .temporal_inputs import collect_date_mask, fold_dates, split_series

__all__ = [
    'collect_date_mask',
    'fold_dates',
    'split_series',
    'collect_modality_meta',
    'encode_multimodal',
]
