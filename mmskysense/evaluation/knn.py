"""Weighted k-NN classification of frozen features (DINO's protocol, the paper's ablation
metric in Figure 7), on scenes cut from generated geo samples: used by
``tools/analysis_tools/knn_eval.py`` and by the online ``KNNEvalHook``.

Scene set: every sample folder ``DATA_ROOT/samples/<id>/`` (``tools/misc/generate_geo_dataset.py``)
gives ``crop_size`` HR tiles; a tile's label is its dominant OSM land-cover class (tiles with
less than half their pixels labelled, or with HR nodata, are skipped). The first ``train_frac``
of the samples form the reference set, the others the held-out set, so no ground is shared
between them. Features: the HR backbone's last map, average-pooled and L2-normalised (tiles
resized to ``input_size`` first when given, to match the ground sampling of the training views).
Classification: DINO's weighted k-NN, vote weights ``exp(cos / T)`` over the k nearest.

Image split: a class-folder collection (AID) with a split file of
``tools/dataset_converters/make_image_split.py`` gives the reference and query sets directly,
each image resized whole (``load_image_split_sets``); ``knn_accuracy`` classifies them.
"""

import glob
import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F

from mmskysense.models.utils.ssl_monitors import effective_rank, mean_pairwise_cosine


def weighted_knn_predict(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
) -> torch.Tensor:
    """DINO's weighted k-NN on L2-normalised features: class scores are the sums of
    ``exp(cos / T)`` over the k nearest reference features of that class."""
    if train_feats.shape[0] == 0:
        raise ValueError('weighted_knn_predict: the reference set is empty')
    k = min(k, train_feats.shape[0])
    sim = test_feats @ train_feats.T
    top_sim, top_idx = sim.topk(k, dim=1)
    votes = torch.zeros(test_feats.shape[0], num_classes, dtype=sim.dtype)
    votes.scatter_add_(1, train_labels[top_idx], (top_sim / temperature).exp())
    return votes.argmax(1)


def load_scenes(
    data_root: str, crop_size: int, min_labelled: float = 0.5
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per sample folder: ``(sample_id, tiles N x 3 x s x s uint8, labels N)``."""
    from mmskysense.datasets.raster import IGNORE_INDEX, label_valid, read_raster_valid

    folders = sorted(glob.glob(osp.join(data_root, 'samples', '*')))
    if not folders:
        raise FileNotFoundError(
            f'k-NN scenes: no sample folders under {data_root}/samples; '
            'generate some with tools/misc/generate_geo_dataset.py'
        )
    out = []
    for folder in folders:
        hr_path, osm_path = osp.join(folder, 'hr.tif'), osp.join(folder, 'osm.tif')
        if not (osp.isfile(hr_path) and osp.isfile(osm_path)):
            raise FileNotFoundError(
                f'k-NN scenes: {folder} needs hr.tif and osm.tif (the scene '
                'label comes from the OSM raster)'
            )
        # the project's one raster reader and nodata rule: its errors name the file
        hr, hr_valid = read_raster_valid(hr_path)
        hr = hr.transpose(2, 0, 1)
        osm, osm_valid = label_valid(osm_path)
        osm = np.where(osm_valid, osm, IGNORE_INDEX)
        tiles, labels = [], []
        for r in range(0, hr.shape[1] - crop_size + 1, crop_size):
            for c in range(0, hr.shape[2] - crop_size + 1, crop_size):
                tile = hr[:, r : r + crop_size, c : c + crop_size]
                lab = osm[r : r + crop_size, c : c + crop_size]
                if not hr_valid[r : r + crop_size, c : c + crop_size].all():
                    continue
                labelled = lab[lab != 255]
                if labelled.size < min_labelled * lab.size:
                    continue
                tiles.append(tile)
                labels.append(int(np.bincount(labelled).argmax()))
        if tiles:
            out.append((osp.basename(folder), np.stack(tiles), np.array(labels)))
    if not out:
        raise ValueError(
            f'k-NN scenes: no tile of {crop_size} px under {data_root}/samples is labelled '
            'and free of nodata'
        )
    return out


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
    to ``input_size`` first when given; computed on the device of ``backbone``."""
    device = next(backbone.parameters()).device
    mean, std = mean.to(device), std.to(device)
    feats = []
    for i in range(0, len(tiles), batch_size):
        x = torch.from_numpy(tiles[i : i + batch_size]).to(device).float()
        if input_size and input_size != x.shape[-1]:
            x = F.interpolate(x, size=(input_size, input_size), mode='area')
        x = (x - mean) / std
        out = backbone(dict(hr=x))
        maps = out['hr'][-1] if isinstance(out, dict) else out[-1]
        feats.append(F.normalize(maps.float().mean(dim=(-2, -1)), dim=1).cpu())
    return torch.cat(feats)


def load_image_split_sets(
    data_root: str, split_file: str, size: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The k-NN sets of an image split (``tools/dataset_converters/make_image_split.py``):
    ``dict(reference=(images N x 3 x size x size uint8, labels N), query=(...))``, every
    image resized whole to ``size`` by area averaging (the scene, as a global view sees it)."""
    import cv2

    from mmskysense.datasets.image_split import load_image_split
    from mmskysense.datasets.transforms import read_rgb

    split = load_image_split(split_file)
    out = {}
    for part in ('reference', 'query'):
        images, labels = [], []
        for rel, label in split[part]:
            img, _ = read_rgb(osp.join(data_root, rel))
            shrink = size < min(img.shape[:2])
            img = cv2.resize(
                img, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            )
            images.append(img.transpose(2, 0, 1))
            labels.append(label)
        out[part] = (np.stack(images), np.asarray(labels))
    return out


def knn_accuracy(
    backbone: torch.nn.Module,
    reference: tuple[np.ndarray, np.ndarray],
    query: tuple[np.ndarray, np.ndarray],
    mean: torch.Tensor,
    std: torch.Tensor,
    k: int = 20,
    temperature: float = 0.07,
    input_size: int | None = None,
) -> dict[str, object]:
    """k-NN top-1 (in %) of ``query`` (``(images, labels)``) against ``reference``, with the
    majority-class baseline and the effective rank and mean pairwise cosine of the query
    features (collapse shows as rank -> 1 and cosine -> 1)."""
    feats, labels = {}, {}
    was_training = backbone.training
    backbone.eval()
    try:
        for name, (images, y) in (('train', reference), ('test', query)):
            feats[name] = extract_features(backbone, images, mean, std, input_size=input_size)
            labels[name] = torch.as_tensor(y).long()
    finally:
        backbone.train(was_training)
    num_classes = int(max(labels['train'].max(), labels['test'].max())) + 1
    pred = weighted_knn_predict(
        feats['train'], labels['train'], feats['test'], num_classes, k, temperature
    )
    acc = (pred == labels['test']).float().mean().item()
    majority = torch.bincount(labels['train'], minlength=num_classes).argmax()
    return dict(
        top1=100 * acc,
        majority_baseline=100 * (labels['test'] == majority).float().mean().item(),
        feat_erank=effective_rank(feats['test']).item(),
        feat_mean_cos=mean_pairwise_cosine(feats['test']).item(),
        num_train=len(labels['train']),
        num_test=len(labels['test']),
        test_class_counts=torch.bincount(labels['test'], minlength=num_classes).tolist(),
        k=k,
        temperature=temperature,
        input_size=input_size,
    )


def knn_scene_accuracy(
    backbone: torch.nn.Module,
    scenes: list[tuple[str, np.ndarray, np.ndarray]],
    mean: torch.Tensor,
    std: torch.Tensor,
    train_frac: float = 0.5,
    k: int = 20,
    temperature: float = 0.07,
    input_size: int | None = None,
) -> dict[str, object]:
    """k-NN top-1 (in %) of ``backbone`` on the held-out part of ``scenes``, with the
    majority-class baseline, the split, and the effective rank and mean pairwise cosine of the
    held-out features (collapse shows as rank -> 1 and cosine -> 1)."""
    n_train = max(1, int(round(len(scenes) * train_frac)))
    if n_train >= len(scenes):
        raise ValueError(
            f'k-NN: {len(scenes)} samples leave none held out with train_frac {train_frac}'
        )
    split = dict(train=scenes[:n_train], test=scenes[n_train:])
    stack = lambda part: (  # noqa: E731
        np.concatenate([s[1] for s in part]),
        np.concatenate([s[2] for s in part]),
    )
    result = knn_accuracy(
        backbone,
        stack(split['train']),
        stack(split['test']),
        mean,
        std,
        k,
        temperature,
        input_size,
    )
    result['train_samples'] = [s[0] for s in split['train']]
    result['test_samples'] = [s[0] for s in split['test']]
    return result
