"""Helpers shared by the model wrappers (no registered modules)."""

from .checkpoint_loader import (
    compare_with_model,
    filter_checkpoint,
    load_weights,
    parameters_on_meta,
    read_checkpoint,
)
from .multimodal_inputs import collect_modality_meta, encode_multimodal
from .pretrained_init import COMPONENT_PREFIXES, PretrainedInitMixin
from .temporal_inputs import check_takes_date_mask, collect_date_mask, fold_dates, split_series

__all__ = [
    'check_takes_date_mask',
    'collect_date_mask',
    'fold_dates',
    'split_series',
    'collect_modality_meta',
    'encode_multimodal',
    'compare_with_model',
    'filter_checkpoint',
    'load_weights',
    'parameters_on_meta',
    'read_checkpoint',
    'COMPONENT_PREFIXES',
    'PretrainedInitMixin',
]
