"""The online k-NN curves of several pretraining runs side by side, as a Markdown table.

    python tools/analysis_tools/knn_curves.py control=work_dirs/dino_control/log.jsonl \
        ours=work_dirs/ssl_aid/20261207_081953/vis_data/scalars.json

A run is ``NAME=FILE``: a ``log.jsonl`` of ``dino_control.py`` (records with ``knn_top1``) or a
``vis_data/scalars.json`` of ``tools/train.py`` (records with ``<name>/top1``, by ``--key``).
Rows are the evaluation steps of any run; a run without an evaluation at a step shows ``-``.
"""

import argparse
import json
from collections.abc import Sequence


def read_curve(path: str, key: str = 'knn/top1') -> dict[int, float]:
    """``step -> k-NN top-1`` of one run's log."""
    curve = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}:{n}: not a JSON record ({err})') from None
            for k in ('knn_top1', key):
                if k in rec:
                    curve[int(rec['step'])] = float(rec[k])
    if not curve:
        raise ValueError(f'{path}: no k-NN record (knn_top1 or {key!r})')
    return curve


def table(curves: dict[str, dict[int, float]]) -> str:
    steps = sorted({s for c in curves.values() for s in c})
    lines = ['| step | ' + ' | '.join(curves) + ' |', '| ---: |' + ' ---: |' * len(curves)]
    for s in steps:
        cells = [f'{c[s]:.1f}' if s in c else '-' for c in curves.values()]
        lines.append(f'| {s} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('runs', nargs='+', help='NAME=FILE')
    parser.add_argument('--key', default='knn/top1', help='the k-NN key of scalars.json')
    args = parser.parse_args(argv)
    curves = {}
    for run in args.runs:
        name, sep, path = run.partition('=')
        if not sep or not name or not path:
            parser.error(f'a run is NAME=FILE, got {run!r}')
        curves[name] = read_curve(path, args.key)
    out = table(curves)
    print(out)
    return out


if __name__ == '__main__':
    main()
