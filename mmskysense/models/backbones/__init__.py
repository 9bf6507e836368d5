"""Backbones of mmskysense."""

from .skysense_v2 import SkySenseV2Backbone, convert_mmpretrain_swinv2

__all__ = ['SkySenseV2Backbone', 'convert_mmpretrain_swinv2']
