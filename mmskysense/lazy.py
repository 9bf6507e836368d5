"""Package attributes imported on first use (PEP 562), so that importing a package runs none
of its heavy submodules: ``import mmskysense.apis.scene.inputs`` must not import torch, or an
exported model could not run where only ONNX Runtime is installed (docs/export.md)."""

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``: ``exports`` maps each public name to the
    submodule (relative, e.g. ``'.runner'``) that defines it."""

    def __getattr__(name: str):
        try:
            module = exports[name]
        except KeyError:
            raise AttributeError(f'module {package!r} has no attribute {name!r}') from None
        value = getattr(importlib.import_module(module, package), name)
        globals_of_package = importlib.import_module(package).__dict__
        globals_of_package[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(importlib.import_module(package).__dict__) | set(exports))

    return __getattr__, __dir__
