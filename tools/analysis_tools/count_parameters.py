"""Parameter table of SkySenseV2Backbone, built on the meta device (no memory, no init time).

    python tools/analysis_tools/count_parameters.py [--arch huge] [--modality hr]

Prints, for the dense model and the MoE model side by side, the parameters of the tokenizers,
of each stage (APM, prompt tokens, attention + norms, FFN / experts + gate) and the total, and
compares the ``huge`` totals with the paper's figures (661.40 M dense, 1,994.10 M with MoE).
"""

import argparse
from collections import OrderedDict

import torch

PAPER_M = dict(dense=661.40, moe=1994.10, tokenizers=0.09)


def build(arch: str, use_moe: bool, modality: str | None = None):
    """The core with every modality, or the single-modal edge of ``modality``."""
    from mmskysense.models.backbones import SkySenseV2Backbone, SkySenseV2SingleModal

    kwargs = dict(arch=arch, use_moe=use_moe, drop_path_rate=0.0)
    with torch.device('meta'):
        if modality is None:
            return SkySenseV2Backbone(**kwargs)
        return SkySenseV2SingleModal(modality=modality, **kwargs)


def group_of(name: str) -> str:
    """Table row of a parameter name."""
    parts = name.split('.')
    if parts[0] == 'tokenizers':
        return f'tokenizer {parts[1]}'
    if parts[0] == 'stages':
        stage = f'stage {int(parts[1]) + 1}'
        if parts[2] == 'downsample':
            return f'{stage} APM'
        if parts[2] == 'prompts':
            return f'{stage} prompt tokens'
        if parts[4] == 'ffn':
            return f'{stage} FFN / experts+gate'
        return f'{stage} attention+norms'
    return 'output norms'


def count(model) -> dict[str, int]:
    rows: dict[str, int] = OrderedDict()
    for name, p in model.named_parameters():
        key = group_of(name)
        rows[key] = rows.get(key, 0) + p.numel()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', default='huge')
    parser.add_argument(
        '--modality',
        default=None,
        help='SkySenseV2SingleModal (only that tokenizer and its prompts)',
    )
    args = parser.parse_args()

    dense = count(build(args.arch, False, args.modality))
    moe = count(build(args.arch, True, args.modality))
    keys = list(OrderedDict.fromkeys(list(dense) + list(moe)))
    width = max(len(k) for k in keys) + 2
    name = 'SkySenseV2SingleModal' if args.modality else 'SkySenseV2Backbone'
    print(f'{name} arch={args.arch!r} (meta device), parameters in M')
    print(f'{"component":<{width}}{"dense":>14}{"MoE":>14}')
    print('-' * (width + 28))
    for k in keys:
        print(f'{k:<{width}}{dense.get(k, 0) / 1e6:>14.3f}{moe.get(k, 0) / 1e6:>14.3f}')
    print('-' * (width + 28))
    tok_d = sum(v for k, v in dense.items() if k.startswith('tokenizer'))
    tot_d, tot_m = sum(dense.values()), sum(moe.values())
    print(f'{"tokenizers (all)":<{width}}{tok_d / 1e6:>14.3f}{tok_d / 1e6:>14.3f}')
    print(f'{"total":<{width}}{tot_d / 1e6:>14.2f}{tot_m / 1e6:>14.2f}')
    if args.arch == 'huge' and args.modality is None:
        for label, ours, paper in (
            ('dense', tot_d, PAPER_M['dense']),
            ('MoE', tot_m, PAPER_M['moe']),
        ):
            rel = (ours / 1e6 - paper) / paper * 100
            verdict = 'OK' if abs(rel) <= 2 else 'OUTSIDE 2%'
            print(f'{label}: {ours / 1e6:.2f} M vs paper {paper:.2f} M ({rel:+.2f} %) {verdict}')
        print(f'tokenizers: {tok_d / 1e6:.3f} M vs paper ~{PAPER_M["tokenizers"]:.2f} M')


if __name__ == '__main__':
    main()
