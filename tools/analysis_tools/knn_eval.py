"""Weighted k-NN scene classification of a SkySense V2 backbone (the paper's ablation metric,
Figure 7), on scenes cut from generated geo samples.

    python tools/analysis_tools/knn_eval.py \
        configs/skysense_v2/skysense-v2_tiny_1xb2-cpu-300it_geo-demo.py \
        --checkpoint work_dirs/tiny/iter_300.pth --data-root data/geo_demo/knn

Scene dataset: every sample folder ``DATA_ROOT/samples/<id>/`` (tools/misc/generate_geo_dataset.py)
gives ``crop-size`` HR tiles; a tile's label is its dominant OSM land-cover class (tiles with
less than half their pixels labelled, or with HR nodata, are skipped). The first
``--train-frac`` of the samples form the reference set, the others the held-out set, so no ground
is shared between them. Features: the HR backbone's last map, average-pooled and L2-normalised.
Classification: DINO's weighted k-NN, vote weights ``exp(cos / T)`` over the k nearest (k=20,
T=0.07). Without ``--checkpoint`` the model keeps its random initialisation (seeded).
"""

import argparse
import glob
import json
import os.path as osp
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import DictAction

from mmskysense.datasets.raster_io import open_raster, read_raster
from mmskysense.evaluation import weighted_knn_predict


def load_scenes(
    data_root: str, crop_size: int, min_labelled: float = 0.5
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per sample folder: ``(sample_id, tiles N x 3 x s x s uint8, labels N)``."""
    folders = sorted(glob.glob(osp.join(data_root, 'samples', '*')))
    if not folders:
        raise FileNotFoundError(
            f'knn_eval: no sample folders under {data_root}/samples; '
            'generate some with tools/misc/generate_geo_dataset.py'
        )
    out = []
    for folder in folders:
        hr_path, osm_path = osp.join(folder, 'hr.tif'), osp.join(folder, 'osm.tif')
        if not (osp.isfile(hr_path) and osp.isfile(osm_path)):
            raise FileNotFoundError(
                f'knn_eval: {folder} needs hr.tif and osm.tif (the scene '
                'label comes from the OSM raster)'
            )
        hr = read_raster(hr_path).transpose(2, 0, 1)
        with open_raster(hr_path) as src:
            nodata = src.nodata
        osm = read_raster(osm_path, bands=[1])[..., 0]
        tiles, labels = [], []
        for r in range(0, hr.shape[1] - crop_size + 1, crop_size):
            for c in range(0, hr.shape[2] - crop_size + 1, crop_size):
                tile = hr[:, r : r + crop_size, c : c + crop_size]
                lab = osm[r : r + crop_size, c : c + crop_size]
                if nodata is not None and (tile == nodata).all(0).any():
                    continue
                labelled = lab[lab != 255]
                if labelled.size < min_labelled * lab.size:
                    continue
                tiles.append(tile)
                labels.append(int(np.bincount(labelled).argmax()))
        if tiles:
            out.append((osp.basename(folder), np.stack(tiles), np.array(labels)))
    return out


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


@torch.no_grad()
def extract_features(
    backbone: torch.nn.Module,
    tiles: np.ndarray,
    mean: torch.Tensor,
    std: torch.Tensor,
    batch_size: int = 64,
    input_size: int | None = None,
) -> torch.Tensor:
    """Pooled, L2-normalised last-stage HR features of ``tiles`` (``N x 3 x s x s``), resized
    to ``input_size`` first when given (to match the ground sampling of the training views)."""
    feats = []
    for i in range(0, len(tiles), batch_size):
        x = torch.from_numpy(tiles[i : i + batch_size]).float()
        if input_size and input_size != x.shape[-1]:
            x = F.interpolate(x, size=(input_size, input_size), mode='area')
        x = (x - mean) / std
        out = backbone(dict(hr=x))
        maps = out['hr'][-1] if isinstance(out, dict) else out[-1]
        feats.append(F.normalize(maps.float().mean(dim=(-2, -1)), dim=1))
    return torch.cat(feats)


def run_knn(
    model: torch.nn.Module,
    scenes,
    train_frac: float,
    k: int,
    temperature: float,
    network: str = 'teacher',
    input_size: int | None = None,
) -> dict[str, object]:
    n_train = max(1, int(round(len(scenes) * train_frac)))
    if n_train >= len(scenes):
        raise ValueError(
            f'knn_eval: {len(scenes)} samples leave none held out with --train-frac {train_frac}'
        )
    backbone = model.teacher['backbone'] if network == 'teacher' else model.backbone
    pre = model.data_preprocessor
    mean = getattr(pre, 'hr_mean', torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1))
    std = getattr(pre, 'hr_std', torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1))
    split = dict(train=scenes[:n_train], test=scenes[n_train:])
    feats, labels = {}, {}
    for name, part in split.items():
        feats[name] = extract_features(
            backbone, np.concatenate([s[1] for s in part]), mean, std, input_size=input_size
        )
        labels[name] = torch.from_numpy(np.concatenate([s[2] for s in part])).long()
    num_classes = int(max(labels['train'].max(), labels['test'].max())) + 1
    pred = weighted_knn_predict(
        feats['train'], labels['train'], feats['test'], num_classes, k, temperature
    )
    acc = (pred == labels['test']).float().mean().item()
    majority = torch.bincount(labels['train'], minlength=num_classes).argmax()
    return dict(
        top1=100 * acc,
        majority_baseline=100 * (labels['test'] == majority).float().mean().item(),
        num_train=len(labels['train']),
        num_test=len(labels['test']),
        train_samples=[s[0] for s in split['train']],
        test_samples=[s[0] for s in split['test']],
        test_class_counts=torch.bincount(labels['test'], minlength=num_classes).tolist(),
        k=k,
        temperature=temperature,
        network=network,
    )


def main(argv: Sequence[str] = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='pretraining config (builds the model)')
    parser.add_argument('--checkpoint', help='pretraining or backbone checkpoint; none: random')
    parser.add_argument('--data-root', required=True, help='generated geo dataset folder')
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
    scenes = load_scenes(args.data_root, args.crop_size)
    model = build_model(args.config, args.checkpoint, args.seed, args.cfg_options)
    result = run_knn(
        model, scenes, args.train_frac, args.k, args.temperature, args.network, args.input_size
    )
    result['checkpoint'] = args.checkpoint or 'random init'
    print(
        f'k-NN top-1 {result["top1"]:.2f}% ({result["checkpoint"]}, k={args.k}, '
        f'T={args.temperature}, {result["num_train"]} reference / {result["num_test"]} '
        f'held-out scenes; majority-class baseline {result["majority_baseline"]:.2f}%)'
    )
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
