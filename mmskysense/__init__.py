"""mmskysense: SkySense V2, a unified multi-modal remote sensing foundation model, for OpenMMLab."""

from . import compat  # noqa: F401  (import-time patches for the measured stack)
from .version import __version__, version_info

# models by name, from the top-level package (mmskysense.list_models() ...); imported on first
# use so that `import mmskysense` stays cheap
_LAZY_APIS = ('list_models', 'get_model', 'inference_model')

__all__ = ['__version__', 'version_info', *_LAZY_APIS]


def __getattr__(name: str):
    if name in _LAZY_APIS:
        from . import apis

        return getattr(apis, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
