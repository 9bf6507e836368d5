"""The package's import graph has no cycle (tools/misc/import_cycles.py reads the sources; every
import counts, deferred ones inside functions included)."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    'import_cycles', REPO / 'tools' / 'misc' / 'import_cycles.py'
)
import_cycles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_cycles)


def test_mmskysense_has_no_import_cycle():
    graph = import_cycles.import_graph(REPO / 'mmskysense')
    assert 'mmskysense.models.backbones.skysense_v2' in graph
    assert import_cycles.find_cycles(graph) == []


def test_a_cycle_is_found_deferred_imports_included(tmp_path):
    pkg = tmp_path / 'pkg'
    (pkg / 'sub').mkdir(parents=True)
    (pkg / '__init__.py').write_text('')
    (pkg / 'sub' / '__init__.py').write_text('from .a import f\n')
    (pkg / 'sub' / 'a.py').write_text('from pkg.sub.b import g\n\ndef f():\n    return g\n')
    (pkg / 'sub' / 'b.py').write_text('def g():\n    from . import a\n    return a\n')
    (pkg / 'c.py').write_text('import pkg.sub.a\n')
    graph = import_cycles.import_graph(pkg)
    assert graph['pkg.sub'] == {'pkg.sub.a'} and graph['pkg.c'] == {'pkg.sub.a'}
    assert import_cycles.find_cycles(graph) == [['pkg.sub.a', 'pkg.sub.b']]
    assert import_cycles.main([str(pkg)]) == 1
