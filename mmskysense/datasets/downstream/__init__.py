"""Downstream datasets of the paper's Tables 1, 2 and 3 (their loading transforms are in
``mmskysense.datasets.transforms``)."""

from .aid import AIDDataset
from .bigearthnet import BigEarthNetMMDataset, BigEarthNetS2Dataset
from .dior import DIORDataset, DIORRDataset
from .dynamic_earthnet import DynamicEarthNetDataset, DynamicEarthNetMMDataset
from .fair1m import FAIR1MDataset
from .fmow import FMoWSentinelDataset
from .isaid import ISAIDDataset
from .pastis import LoadPASTISTarget, PASTISDataset
from .potsdam import PotsdamDataset
from .resisc45 import RESISC45Dataset

__all__ = [
    'AIDDataset',
    'RESISC45Dataset',
    'BigEarthNetS2Dataset',
    'FMoWSentinelDataset',
    'ISAIDDataset',
    'PotsdamDataset',
    'DynamicEarthNetDataset',
    'DIORDataset',
    'DIORRDataset',
    'FAIR1MDataset',
    'BigEarthNetMMDataset',
    'DynamicEarthNetMMDataset',
    'PASTISDataset',
    'LoadPASTISTarget',
]
