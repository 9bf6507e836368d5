"""Datasets, transforms and the raster and tiling parts of mmskysense.

Importing the package runs none of its submodules: ``mmskysense.datasets.raster`` and
``mmskysense.datasets.tiling`` serve the scene engine without torch (an exported model runs
where only ONNX Runtime is installed). The datasets and transforms register when
``mmskysense.datasets.registered`` is imported, which the registries do the first time they are
asked for a module (``mmskysense.registry``, ``register_all_modules``); a name such as
``mmskysense.datasets.PotsdamDataset`` imports it on first use.
"""

import importlib


def __getattr__(name: str):
    if name.startswith('__'):
        raise AttributeError(name)
    registered = importlib.import_module('.registered', __name__)
    try:
        value = getattr(registered, name)
    except AttributeError:
        raise AttributeError(f"module 'mmskysense.datasets' has no attribute {name!r}") from None
    globals()[name] = value
    return value
