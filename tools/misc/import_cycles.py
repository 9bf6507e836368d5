"""Find import cycles among the modules of a package, from its source (nothing is imported).

Every ``import`` and ``from ... import`` statement counts, at module level or inside a function
(a deferred import hides a cycle from Python, not from a reader). ``from pkg import name`` is an
edge to ``pkg.name`` when that is a module of the package, else to ``pkg``; an import of a module
is not an edge to its parent packages' ``__init__`` (Python runs them, but every module would
then sit in a cycle with its own package).

    python tools/misc/import_cycles.py [mmskysense]   # prints each cycle; exit 1 if there is one
"""

import argparse
import ast
import sys
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    """Dotted name of ``path`` (a .py file under ``root``'s parent)."""
    parts = list(path.relative_to(root.parent).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    # `from .x import y` in a.b.c means a.b.x; in the package a.b (its __init__) a.b.x
    base = module.split('.')
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return '.'.join(base + ([target] if target else []))


def import_graph(package_dir: str | Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, for every .py file under ``package_dir``."""
    root = Path(package_dir).resolve()
    if not (root / '__init__.py').is_file():
        raise FileNotFoundError(f'{root} is not a package: it has no __init__.py')
    files = {module_name(p, root): p for p in sorted(root.rglob('*.py'))}
    top = root.name
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == '__init__.py'
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = _resolve_relative(name, is_package, node.level, node.module)
                else:
                    base = node.module or ''
                for alias in node.names:
                    sub = f'{base}.{alias.name}'
                    edges.add(sub if sub in files else base)
        # keep the package's own modules; `import a.b.c` names a.b.c (its deepest known part)
        own = set()
        for target in edges:
            while target and target not in files:
                target = target.rpartition('.')[0]
            if target and target.split('.')[0] == top and target != name:
                own.add(target)
        graph[name] = own
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted; a
    module that imports itself is reported alone."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('package', nargs='?', default='mmskysense', help='package directory')
    args = parser.parse_args(argv)
    graph = import_graph(args.package)
    cycles = find_cycles(graph)
    edges = sum(len(v) for v in graph.values())
    print(f'{args.package}: {len(graph)} modules, {edges} import edges, {len(cycles)} cycles')
    for cycle in cycles:
        inner = [f'  {a} -> {b}' for a in cycle for b in sorted(graph[a]) if b in cycle]
        print(f'cycle of {len(cycle)} modules:\n' + '\n'.join(inner))
    return 1 if cycles else 0


if __name__ == '__main__':
    sys.exit(main())
