# Importing these modules registers the pretraining transforms into mmskysense.registry.TRANSFORMS.
from .formatting import PackSkySenseInputs
from .geo_flip_rotate import GeoRandomFlipRotate, apply_geo_ops
from .geo_multi_crop import GeoMultiCrop, sample_ground_box
from .load_seg_map_raster import LoadSegMapFromRaster
from .pair_augment import PairPhotometricJitter, RandomDateExchange
from .pair_loading import LoadBinaryChangeLabel, LoadImagePair, read_date
from .photometric import RandomHRColorJitter, RandomSpectralJitter
from .temporal_sampling import SampleTemporalFrames

__all__ = [
    'LoadSegMapFromRaster',
    'PackSkySenseInputs',
    'GeoRandomFlipRotate',
    'apply_geo_ops',
    'GeoMultiCrop',
    'sample_ground_box',
    'LoadImagePair',
    'LoadBinaryChangeLabel',
    'read_date',
    'PairPhotometricJitter',
    'RandomDateExchange',
    'RandomHRColorJitter',
    'RandomSpectralJitter',
    'SampleTemporalFrames',
]
