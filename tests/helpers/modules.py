"""Modules loaded by path: the tools (scripts, not a package) and the test helpers beside a
test module (pytest runs with ``--import-mode=importlib``)."""

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def load_module(name: str, path: Path | str) -> ModuleType:
    """Execute the file ``path`` as the module ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
