"""Change detectors (mmseg-based): the Siamese encoder-decoder of the paper's Table 2c."""

from .siamese_encoder_decoder import SiameseEncoderDecoder

__all__ = ['SiameseEncoderDecoder']
