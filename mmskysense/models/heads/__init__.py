"""Heads: the DINO projection head and the pretraining objectives' heads, each owning its
projection, its pairing of student and teacher outputs, and its loss."""

from .dino_head import DINOHead
from .gcpl_head import GCPLHead
from .ita_head import ITAHead
from .mgcl_head import MGCLHead, group_objects, pool_objects
from .qsacl_head import QSACLHead

__all__ = [
    'DINOHead',
    'MGCLHead',
    'QSACLHead',
    'GCPLHead',
    'ITAHead',
    'group_objects',
    'pool_objects',
]
