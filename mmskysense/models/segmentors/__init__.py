"""Segmentors of the downstream tasks (temporal wrapper of mmseg's EncoderDecoder)."""

from .multimodal_encoder_decoder import MultiModalEncoderDecoder
from .temporal_encoder_decoder import TemporalEncoderDecoder

__all__ = ['TemporalEncoderDecoder', 'MultiModalEncoderDecoder']
