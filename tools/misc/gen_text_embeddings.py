"""Write the text-embedding file of OpenStreetMap class names that ITA (dense image-text
alignment, paper section 3.2) aligns pixel features with.

    python tools/misc/gen_text_embeddings.py data/osm_text_embeddings.pth \
        --classes water vegetation built_up bare_soil --model ViT-B-32 --pretrained openai

Row k of the file is the embedding of class k, i.e. of OSM label value k. The default class list
is the one of the synthetic generator (mmskysense/datasets/geo/synthetic.py). With open_clip
installed (``pip install open_clip_torch``) the CLIP text encoder embeds a prompt per class; the
``--backend random`` option writes seeded random unit vectors instead, which carry no meaning and
are only for smoke tests of the training loop (the file records which backend made it).
"""

import argparse
import os
import os.path as osp
from collections.abc import Sequence

import torch
import torch.nn.functional as F

DEFAULT_CLASSES = ('water', 'vegetation', 'built_up', 'bare_soil')


def parse_args(argv: Sequence[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out', help='output .pth file')
    parser.add_argument(
        '--classes',
        nargs='+',
        default=list(DEFAULT_CLASSES),
        help='class names in label-value order',
    )
    parser.add_argument(
        '--template',
        default='a satellite image of {}.',
        help='prompt; {} is replaced by the class name (underscores -> spaces)',
    )
    parser.add_argument('--backend', choices=('open_clip', 'random'), default='open_clip')
    parser.add_argument('--model', default='ViT-B-32', help='open_clip model name')
    parser.add_argument('--pretrained', default='openai', help='open_clip pretrained tag')
    parser.add_argument('--dims', type=int, default=512, help='dimension for --backend random')
    parser.add_argument('--seed', type=int, default=0, help='seed for --backend random')
    return parser.parse_args(argv)


def open_clip_embeddings(prompts: list[str], model_name: str, pretrained: str) -> torch.Tensor:
    """CLIP text embeddings of ``prompts`` (``K x D``, L2-normalised)."""
    try:
        import open_clip
    except ImportError as err:
        raise SystemExit(
            'gen_text_embeddings: the text encoder `open_clip` is not installed '
            '(pip install open_clip_torch). Install it, or pass ITALoss a file made elsewhere '
            "(a torch.save'd dict(class_names=[...], embeddings=Tensor[K, D])), or use "
            '--backend random for smoke tests only.'
        ) from err
    model, _, _ = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
    tokenizer = open_clip.get_tokenizer(model_name)
    model.eval()
    with torch.no_grad():
        emb = model.encode_text(tokenizer(prompts)).float()
    return F.normalize(emb, dim=-1)


def random_embeddings(num: int, dims: int, seed: int) -> torch.Tensor:
    """Seeded random unit vectors (no semantics: for smoke tests)."""
    gen = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(num, dims, generator=gen), dim=-1)


def main(argv: Sequence[str] = None) -> str:
    args = parse_args(argv)
    names = list(args.classes)
    if len(set(names)) != len(names):
        raise SystemExit(f'gen_text_embeddings: --classes has duplicates: {names}')
    prompts = [args.template.format(n.replace('_', ' ')) for n in names]
    if args.backend == 'open_clip':
        emb = open_clip_embeddings(prompts, args.model, args.pretrained)
        meta = dict(backend='open_clip', model=args.model, pretrained=args.pretrained)
    else:
        emb = random_embeddings(len(names), args.dims, args.seed)
        meta = dict(backend='random', seed=args.seed)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(dict(class_names=names, prompts=prompts, embeddings=emb, meta=meta), args.out)
    print(f'wrote {len(names)} x {emb.shape[1]} text embeddings ({meta["backend"]}) to {args.out}')
    return args.out


if __name__ == '__main__':
    main()
