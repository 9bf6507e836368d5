# Importing these modules registers the transforms into mmskysense.registry.TRANSFORMS.
from .formatting import PackSkySenseInputs
from .geo_flip_rotate import GeoRandomFlipRotate
from .geo_multi_crop import GeoMultiCrop, sample_ground_box
from .image_multi_crop import ImageMultiCrop, read_rgb
from .loading import LoadMultiBandImage, LoadOneHotLabel, LoadSegMapFromRaster, LoadTimeSeries
from .multimodal import (
    LoadMultiModalImages,
    MultiModalRandomCrop,
    MultiModalRandomFlip,
    PackMultiModalInputs,
)
from .pair_augment import PairPhotometricJitter, RandomDateExchange
from .pair_loading import LoadBinaryChangeLabel, LoadImagePair, read_date
from .photometric import RandomHRChannelShuffle, RandomHRColorJitter, RandomSpectralJitter
from .temporal_sampling import SampleTemporalFrames

__all__ = [
    'LoadMultiBandImage',
    'LoadOneHotLabel',
    'LoadSegMapFromRaster',
    'LoadTimeSeries',
    'LoadMultiModalImages',
    'MultiModalRandomCrop',
    'MultiModalRandomFlip',
    'PackMultiModalInputs',
    'PackSkySenseInputs',
    'GeoRandomFlipRotate',
    'GeoMultiCrop',
    'ImageMultiCrop',
    'read_rgb',
    'sample_ground_box',
    'LoadImagePair',
    'LoadBinaryChangeLabel',
    'read_date',
    'PairPhotometricJitter',
    'RandomDateExchange',
    'RandomHRChannelShuffle',
    'RandomHRColorJitter',
    'RandomSpectralJitter',
    'SampleTemporalFrames',
]
