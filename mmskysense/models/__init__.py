# Importing a subpackage registers its modules into mmskysense.registry.MODELS.
import importlib

from .backbones import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403

#: libraries that only some subpackages build on
_OPTIONAL = ('mmpretrain', 'mmseg', 'mmdet', 'mmcv')


def _import_optional(name: str) -> None:
    """Import a subpackage that builds on mmpretrain or mmseg, if they are installed.

    The backbone and its layers need only torch and mmengine, so that they run where the other
    libraries are absent (an accelerator image with torch alone, say); the algorithm and the task
    wrappers are registered only where their library is.
    """
    try:
        module = importlib.import_module(f'{__name__}.{name}')
    except ModuleNotFoundError as e:
        if (e.name or '').split('.')[0] not in _OPTIONAL:
            raise
        return
    globals().update({k: getattr(module, k) for k in getattr(module, '__all__', [])})


# heads.bit_head: the BIT change head builds on mmseg's BaseDecodeHead
for _name in ('classifiers', 'segmentors', 'selfsup', 'change_detectors', 'heads.bit_head'):
    _import_optional(_name)
