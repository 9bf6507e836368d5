"""Backward-compatibility shim: the raster reader now lives in ``mmskysense.datasets.raster``.

Only re-exports; no module of the package imports from here (import ``mmskysense.datasets.raster``).
``read_raster_window`` is gone: ground boxes are read by ``GroundWindowReader``.
"""

from .raster import *  # noqa: F401,F403
from .raster import __all__  # noqa: F401
