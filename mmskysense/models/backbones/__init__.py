"""Backbones of mmskysense: the SkySense V2 core, its single-modal edge, and their checkpoint
key rules (the loader itself is model-agnostic: ``mmskysense.models.utils.checkpoint_loader``;
``load_weights`` and ``read_checkpoint`` are re-exported here for the tools that load
backbones)."""

from mmskysense.models.utils.checkpoint_loader import load_weights, read_checkpoint

from .checkpoint_rules import checkpoint_filter_fn, convert_mmpretrain_swinv2
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
