"""Backbones of mmskysense: the SkySense V2 core, its single-modal edge, and the one
checkpoint adaptation they (and every tool) load through."""

from .checkpoint_filter import (
    checkpoint_filter_fn,
    convert_mmpretrain_swinv2,
    load_weights,
    read_checkpoint,
)
from .single_modal import SkySenseV2SingleModal
from .skysense_v2 import SkySenseV2Backbone

__all__ = [
    'SkySenseV2Backbone',
    'SkySenseV2SingleModal',
    'checkpoint_filter_fn',
    'load_weights',
    'read_checkpoint',
    'convert_mmpretrain_swinv2',
]
