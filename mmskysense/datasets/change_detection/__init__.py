"""Binary change-detection datasets of the paper's Table 2c (LEVIR-CD, OSCD).

Dyna.-S2 semantic change reuses ``DynamicEarthNetDataset`` (downstream/) unchanged: the SCS
metric groups its monthly predictions by cube itself.
"""

from .base import CHANGE_CLASSES, CHANGED_INDEX, BaseChangeDetDataset
from .levir_cd import LEVIRCDDataset
from .oscd import OSCD_S2_BANDS, OSCDDataset

__all__ = [
    'BaseChangeDetDataset',
    'LEVIRCDDataset',
    'OSCDDataset',
    'CHANGE_CLASSES',
    'CHANGED_INDEX',
    'OSCD_S2_BANDS',
]
