"""The pretraining algorithm: the teacher-student skeleton that routes tensors to the heads."""

from .skysense_v2 import SkySenseV2

__all__ = ['SkySenseV2']
