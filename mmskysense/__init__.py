"""mmskysense: SkySense V2, a unified multi-modal remote sensing foundation model, for OpenMMLab."""

from . import compat  # noqa: F401  (import-time patches for the measured stack)
from .version import __version__, version_info

__all__ = ['__version__', 'version_info']
