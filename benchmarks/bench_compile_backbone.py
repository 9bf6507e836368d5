"""The SkySense V2 backbone's forward compiled (``torch.compile``, inductor) against eager, on
the CPU, in one run.

    python benchmarks/bench_compile_backbone.py [--arch tiny base] [--side 256] [--threads 2]

Per arch: the HR forward (``B x 3 x side x side``, inference mode) eager and compiled, timed
alternately after the compiled one's warm-up; prints ``RESULT compile_backbone`` with the
compile time, both medians, the ratio compiled/eager and the largest output difference.
"""

import argparse
import os.path as osp
import sys
import time

import torch

if __package__ in (None, ''):
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from bench_scene_inference import alternate, load  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', nargs='+', default=['tiny', 'base'])
    parser.add_argument('--side', type=int, default=256)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from mmskysense.models.backbones import SkySenseV2SingleModal

    lines = []
    for arch in args.arch:
        torch.manual_seed(0)
        model = SkySenseV2SingleModal(arch=arch, modality='hr').eval()
        x = torch.randn(args.batch, 3, args.side, args.side)
        torch._dynamo.reset()
        compiled = torch.compile(model, fullgraph=True)
        with torch.inference_mode():
            t0 = time.perf_counter()
            out_c = compiled(x)
            compile_s = time.perf_counter() - t0
            out_e = model(x)
            diff = max((a - b).abs().max().item() for a, b in zip(out_c, out_e, strict=True))
            t = alternate(dict(eager=lambda: model(x), compiled=lambda: compiled(x)), args.repeat)
        lines.append(
            f'RESULT compile_backbone {arch} hr {args.batch}x3x{args.side}x{args.side} '
            f'threads={args.threads}: compiled/eager = {t["compiled"] / t["eager"]:.3f} (eager '
            f'{t["eager"] * 1e3:.1f} ms, compiled {t["compiled"] * 1e3:.1f} ms, compile '
            f'{compile_s:.0f} s, max |difference| {diff:.1e}, load {load()})'
        )
        print(lines[-1], flush=True)
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
