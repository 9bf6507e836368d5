"""Plot a pretraining run's curves from mmengine's scalar log: the loss terms, the online k-NN
accuracy (``KNNEvalHook``) and the collapse monitors, against iterations, into one PNG.

    python tools/analysis_tools/plot_pretrain_curves.py \
        work_dirs/tiny/<time>/vis_data/scalars.json curves.png [--title TEXT]

Panels: (1) the total loss and every weighted ``loss_*`` term; (2) every ``<set>/top1`` that a
``KNNEvalHook`` logged, with its majority-class baseline (the first point, at step 0, is the
initial weights); (3) the teacher's target entropy divided by log K of the image-level MGCL
terms and of QSACL (0: one-hot targets, 1: uniform ones; a collapse goes to either end) and
ITA's training accuracy, with the effective rank of the teacher's pooled HR features on the
right axis. Also writes the
curves as JSON next to the PNG (``<out>.json``).
"""

import argparse
import json
import os.path as osp
from collections.abc import Sequence


def read_scalars(path: str) -> list[dict]:
    """The records of a ``scalars.json`` (one JSON object per line)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'plot_pretrain_curves: no scalar log at {path}')
    records = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}:{n} is not a JSON record: {err}') from err
    return records


def series(records: list[dict], key: str) -> tuple[list[int], list[float]]:
    # a teacher-student monitor of a step whose batch gave its term no rows is no data (its
    # entropy reads 0, like a collapse): left out of the curve
    rows = key.rsplit('/', 1)[0] + '/rows' if key.endswith('/tgt_entropy') else None
    steps, values = [], []
    for rec in records:
        if rows is not None and rec.get(rows, 1.0) == 0:
            continue
        if key in rec and 'step' in rec:
            steps.append(int(rec['step']))
            values.append(float(rec[key]))
    return steps, values


def collect_curves(records: list[dict]) -> dict[str, dict[str, list]]:
    keys = sorted({k for rec in records for k in rec})
    loss_keys = ['loss'] + [k for k in keys if k.startswith('loss_')]
    knn_keys = [k for k in keys if k.endswith('/top1')]
    monitor_keys = [
        k for k in keys if k.startswith('mgcl_image_') and k.endswith('/tgt_entropy')
    ] + [k for k in keys if k.startswith('qsacl_') and k.endswith('/tgt_entropy')]
    # a run without teacher-target terms (ITA alone) still shows what its objective does
    monitor_keys += [k for k in ('ita_acc',) if k in keys]
    extra = [k for k in ('teacher_feat/hr/erank',) if k in keys]
    majority = [k[: -len('/top1')] + '/majority' for k in knn_keys]
    out = {}
    for k in loss_keys + knn_keys + monitor_keys + extra + [m for m in majority if m in keys]:
        steps, values = series(records, k)
        if steps:
            out[k] = dict(step=steps, value=values)
    return out


def plot_curves(
    scalars_path: str, out_path: str, title: str | None = None
) -> dict[str, dict[str, list]]:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    curves = collect_curves(read_scalars(scalars_path))
    if 'loss' not in curves:
        raise ValueError(f'plot_pretrain_curves: {scalars_path} logged no `loss`')
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    ax = axes[0]
    for k, c in curves.items():
        if k == 'loss' or k.startswith('loss_'):
            ax.plot(c['step'], c['value'], label=k, lw=2.0 if k == 'loss' else 1.2)
    ax.set(title='loss terms (weighted)', xlabel='iteration', ylabel='loss')
    ax.legend(fontsize=8)
    ax = axes[1]
    knn = [k for k in curves if k.endswith('/top1')]
    for k in knn:
        c = curves[k]
        (line,) = ax.plot(c['step'], c['value'], marker='o', ms=3, label=k)
        maj = curves.get(k[: -len('/top1')] + '/majority')
        if maj:
            ax.axhline(maj['value'][-1], color=line.get_color(), ls=':', lw=1)
        if c['step'] and c['step'][0] == 0:
            ax.axhline(c['value'][0], color=line.get_color(), ls='--', lw=1)
    ax.set(
        title='teacher k-NN top-1 (--: initial weights, : majority)',
        xlabel='iteration',
        ylabel='%',
    )
    if knn:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, 'no KNNEvalHook in this run', ha='center', transform=ax.transAxes)
    ax = axes[2]
    for k, c in curves.items():
        if k.endswith('/tgt_entropy'):
            ax.plot(c['step'], c['value'], label=k.replace('/tgt_entropy', ''), lw=1.2)
    if 'ita_acc' in curves:
        c = curves['ita_acc']
        ax.plot(c['step'], c['value'], color='grey', lw=1.0, label='ita_acc (training views)')
    ax.set(
        title='teacher target entropy / log K; ITA accuracy',
        xlabel='iteration',
        ylim=(-0.02, 1.02),
        ylabel='',
    )
    ax.legend(fontsize=7, loc='upper left')
    if 'teacher_feat/hr/erank' in curves:
        c = curves['teacher_feat/hr/erank']
        ax2 = ax.twinx()
        ax2.plot(c['step'], c['value'], color='k', ls='--', lw=1, label='HR feature erank')
        ax2.set_ylabel('effective rank of pooled HR features (--)')
        ax2.set_ylim(bottom=0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_path, dpi=90)
    plt.close(fig)
    with open(osp.splitext(out_path)[0] + '.json', 'w') as f:
        json.dump(curves, f)
    return curves


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('scalars', help='vis_data/scalars.json of a pretraining run')
    parser.add_argument('out', help='PNG to write')
    parser.add_argument('--title', default=None)
    args = parser.parse_args(argv)
    curves = plot_curves(args.scalars, args.out, args.title)
    print(f'wrote {args.out} ({len(curves)} curves)')
    return args.out


if __name__ == '__main__':
    main()
