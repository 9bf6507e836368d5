"""Weighted k-NN scene classification of a SkySense V2 backbone (the paper's ablation metric,
Figure 7), on scenes cut from generated geo samples.

    python tools/analysis_tools/knn_eval.py \
        configs/skysense_v2/skysense-v2_tiny_1xb2-cpu-300it_geo-demo.py \
        --checkpoint work_dirs/tiny/iter_300.pth --data-root data/geo_demo/knn

The protocol (scene tiles, split, features, vote) is ``mmskysense.evaluation.knn``'s, the one
the online ``KNNEvalHook`` runs during pretraining: every sample folder
``DATA_ROOT/samples/<id>/`` (tools/misc/generate_geo_dataset.py) gives ``--crop-size`` HR tiles
labelled by their dominant OSM class; the first ``--train-frac`` of the samples are the reference
set, the others are held out; DINO's weighted k-NN (k=20, T=0.07) on pooled, L2-normalised
last-stage HR features. Without ``--checkpoint`` the model keeps its random initialisation
(seeded).
"""

import argparse
import json
from collections.abc import Sequence

import numpy as np
import torch
from mmengine.config import DictAction

from mmskysense.evaluation import (
    knn_accuracy,
    knn_scene_accuracy,
    load_image_split_sets,
    load_scenes,
    weighted_knn_predict,
)


def build_model(
    config: str, checkpoint: str | None, seed: int, cfg_options: dict | None = None
) -> torch.nn.Module:
    """The pretraining model of ``config``, with seeded random weights, or with the backbones of
    ``checkpoint`` (a pretraining checkpoint: the teacher's and the student's backbone; a
    backbone-only one, e.g. from extract_teacher_backbone.py: the same weights in both), loaded
    strictly through ``checkpoint_filter_fn``."""
    from mmengine.config import Config

    from mmskysense.models.backbones import load_weights, read_checkpoint
    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if checkpoint:
        ckpt = read_checkpoint(checkpoint)
        for network, backbone in (
            ('teacher', model.teacher['backbone']),
            ('student', model.backbone),
        ):
            load_weights(backbone, ckpt, network=network, strict=True, name=checkpoint)
    return model.eval()


def run_knn(
    model: torch.nn.Module,
    scenes,
    train_frac: float,
    k: int,
    temperature: float,
    network: str = 'teacher',
    input_size: int | None = None,
) -> dict[str, object]:
    """k-NN of the teacher's (or the student's) backbone; see ``knn_scene_accuracy``."""
    backbone = model.teacher['backbone'] if network == 'teacher' else model.backbone
    pre = model.data_preprocessor
    mean = getattr(pre, 'hr_mean', torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1))
    std = getattr(pre, 'hr_std', torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1))
    result = knn_scene_accuracy(backbone, scenes, mean, std, train_frac, k, temperature, input_size)
    result['network'] = network
    return result


def colour_histogram_knn(
    sets: dict, bins: int = 8, k: int = 20, temperature: float = 0.07
) -> dict[str, object]:
    """The k-NN of a joint RGB histogram (``bins``^3 cells, L2-normalised), with no network:
    the floor a learned feature has to clear on a collection where colour tells classes apart."""

    def hist(images: np.ndarray) -> torch.Tensor:
        q = (images.astype(np.int64) * bins) // 256  # N x 3 x H x W cells per channel
        cell = (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]
        h = np.stack([np.bincount(c.ravel(), minlength=bins**3) for c in cell])
        return torch.nn.functional.normalize(torch.from_numpy(h).float().sqrt(), dim=1)

    ref, qry = sets['reference'], sets['query']
    y_ref, y_qry = torch.as_tensor(ref[1]).long(), torch.as_tensor(qry[1]).long()
    num_classes = int(max(y_ref.max(), y_qry.max())) + 1
    pred = weighted_knn_predict(hist(ref[0]), y_ref, hist(qry[0]), num_classes, k, temperature)
    return dict(
        top1=100 * (pred == y_qry).float().mean().item(),
        num_train=len(y_ref),
        num_test=len(y_qry),
        # the same baseline as knn_accuracy's: the reference set's commonest class
        majority_baseline=100
        * (y_qry == torch.bincount(y_ref, minlength=num_classes).argmax()).float().mean().item(),
    )


def main(argv: Sequence[str] = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='pretraining config (builds the model)')
    parser.add_argument('--checkpoint', help='pretraining or backbone checkpoint; none: random')
    parser.add_argument(
        '--data-root',
        required=True,
        help='generated geo dataset folder (with --split-file: the image collection)',
    )
    parser.add_argument(
        '--split-file',
        help='an image split (make_image_split.py): k-NN of its query images against its '
        'reference images, each resized whole to --crop-size',
    )
    parser.add_argument(
        '--features',
        choices=('backbone', 'colour-histogram'),
        default='backbone',
        help='colour-histogram: the no-network floor (with --split-file)',
    )
    parser.add_argument('--crop-size', type=int, default=64, help='scene size in HR pixels')
    parser.add_argument(
        '--input-size',
        type=int,
        default=None,
        help='resize scenes to this size before the backbone (default: as cut)',
    )
    parser.add_argument('--train-frac', type=float, default=0.5)
    parser.add_argument('--k', type=int, default=20)
    parser.add_argument('--temperature', type=float, default=0.07)
    parser.add_argument('--network', choices=('teacher', 'student'), default='teacher')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random initialisation')
    parser.add_argument('--out', help='write the result as JSON here')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. model.ita_head.loss.text_embeddings=F',
    )
    args = parser.parse_args(argv)
    if args.split_file:
        sets = load_image_split_sets(args.data_root, args.split_file, args.crop_size)
        if args.features == 'colour-histogram':
            result = colour_histogram_knn(sets, k=args.k, temperature=args.temperature)
        else:
            model = build_model(args.config, args.checkpoint, args.seed, args.cfg_options)
            backbone = model.teacher['backbone'] if args.network == 'teacher' else model.backbone
            pre = model.data_preprocessor
            result = knn_accuracy(
                backbone,
                sets['reference'],
                sets['query'],
                pre.hr_mean,
                pre.hr_std,
                args.k,
                args.temperature,
                args.input_size,
            )
    else:
        if args.features != 'backbone':
            parser.error('--features colour-histogram needs --split-file')
        scenes = load_scenes(args.data_root, args.crop_size)
        model = build_model(args.config, args.checkpoint, args.seed, args.cfg_options)
        result = run_knn(
            model, scenes, args.train_frac, args.k, args.temperature, args.network, args.input_size
        )
    result['checkpoint'] = (
        'colour histogram' if args.features != 'backbone' else args.checkpoint or 'random init'
    )
    print(
        f'k-NN top-1 {result["top1"]:.2f}% ({result["checkpoint"]}, k={args.k}, '
        f'T={args.temperature}, {result["num_train"]} reference / {result["num_test"]} '
        f'held-out; majority-class baseline {result["majority_baseline"]:.2f}%)'
    )
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
