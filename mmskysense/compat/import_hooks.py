"""Run a patch when (and only when) the module it mends is imported.

``import mmskysense`` installs one meta-path finder; it does nothing until one of the named
modules is imported, whichever code imports it (our configs, mmengine's scope lookup, a user).
Then it wraps that module's loader: ``around`` patches run the module's own code inside them (a
version check that must read another value, a name that must exist while it runs), ``after``
patches get the executed module.
"""

import importlib.abc
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

#: ``around(execute, module)``: must call ``execute(module)`` once, which runs the module's code
AroundPatch = Callable[[Callable[[ModuleType], None], ModuleType], None]
AfterPatch = Callable[[ModuleType], None]

_AROUND: dict[str, list[AroundPatch]] = {}
_AFTER: dict[str, list[AfterPatch]] = {}


class _PatchingLoader(importlib.abc.Loader):
    """The module's own loader, with its patches around and after its code."""

    def __init__(self, wrapped: importlib.abc.Loader, name: str) -> None:
        self.wrapped = wrapped
        self.name = name

    def create_module(self, spec):
        return self.wrapped.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        execute = self.wrapped.exec_module
        for around in _AROUND.get(self.name, ()):
            execute = _nest(around, execute)
        execute(module)
        for after in _AFTER.get(self.name, ()):
            after(module)


def _nest(around: AroundPatch, inner: Callable[[ModuleType], None]):
    return lambda module: around(inner, module)


class _PatchingFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None, target=None):
        if fullname not in _AROUND and fullname not in _AFTER:
            return None
        # the spec the other finders would give, with its loader wrapped
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or isinstance(spec.loader, _PatchingLoader):
            return spec
        spec.loader = _PatchingLoader(spec.loader, fullname)
        return spec


def _install_finder() -> None:
    if not any(isinstance(f, _PatchingFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchingFinder())


def around_import(name: str, patch: AroundPatch) -> None:
    """Run module ``name``'s code inside ``patch`` when it is imported (idempotent; nothing
    happens for a module already imported: its code has run)."""
    if patch not in _AROUND.setdefault(name, []):
        _AROUND[name].append(patch)
    _install_finder()


def after_import(name: str, patch: AfterPatch) -> None:
    """Call ``patch(module)`` once module ``name`` is imported: now if it already is, else
    right after its code runs (idempotent)."""
    if patch in _AFTER.setdefault(name, []):
        return
    _AFTER[name].append(patch)
    _install_finder()
    if name in sys.modules:
        patch(sys.modules[name])
