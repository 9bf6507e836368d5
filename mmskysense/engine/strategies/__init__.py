from .fsdp2 import DEFAULT_UNITS, FSDP2Strategy
from .sharded_checkpoint import (
    convert_sharded_checkpoint,
    is_sharded_checkpoint,
    load_sharded_checkpoint,
)

__all__ = [
    'DEFAULT_UNITS',
    'FSDP2Strategy',
    'convert_sharded_checkpoint',
    'is_sharded_checkpoint',
    'load_sharded_checkpoint',
]
