"""Shrinking the detection configs to the tiny backbone on generated data.

Shared by the config tests and by ``finetune_det_tiny.py`` (the CPU fine-tuning check). Not a
test module itself; tests load it by path since pytest runs with ``--import-mode=importlib``.
What every task's shrinker shares is in ``tests/helpers/tiny.py``; this module adds the
detectors' configs, data and heads.
"""

import os.path as osp
from collections.abc import Sequence

from fake_releases import detection as fake
from helpers.tiny import (  # noqa: F401  (ROOT, load_converter: the tests read them from here)
    ROOT,
    load_converter,
    load_tiny,
    set_in_pipelines,
    shorten,
    tiny_channels,
)
from mmengine.config import Config

_DET = 'configs/skysense_v2_det/'
CONFIGS = {
    'dior': _DET + 'faster-rcnn_skysense-v2-huge-fpn_8xb2-12e_dior.py',
    'dior_r': _DET + 'oriented-rcnn-le90_skysense-v2-huge-fpn_8xb2-12e_dior-r.py',
    'fair1m': _DET + 'oriented-rcnn-le90_skysense-v2-huge-fpn_8xb2-12e_fair1m-1024.py',
}
SUBMISSION_CONFIG = (
    'configs/skysense_v2_det/'
    'oriented-rcnn-le90_skysense-v2-huge-fpn_8xb2-12e_fair1m-1024-submission.py'
)
#: the paper's metric of each config
METRICS = {'dior': 'pascal_voc/mAP', 'dior_r': 'dota/mAP', 'fair1m': 'dota/mAP'}


def make_data(
    name: str,
    root: str,
    scale: int = 1,
    size: int = 128,
    classes: Sequence[int] | None = None,
    seed: int = 0,
) -> str:
    """Generate the fake release for config ``name`` under ``root`` (converted for FAIR1M);
    returns the ``data_root`` the config should use."""
    if name in ('dior', 'dior_r'):
        fake.make_dior(
            root,
            dict(train=2 * scale, val=scale, test=max(2, scale)),
            size=size,
            objects=(2, 4),
            classes=classes,
            seed=seed,
        )
        return root
    if name == 'fair1m':
        raw = osp.join(root, 'raw')
        fake.make_fair1m(
            raw,
            {'train/part1': scale, 'train/part2': scale, 'validation': 1, 'test': 1},
            size=(int(1.5 * size), int(1.7 * size)),
            objects=(4, 7),
            classes=classes,
            object_size=(0.2 * size, 0.35 * size),
            seed=seed,
        )
        out = osp.join(root, 'converted')
        load_converter('fair1m').convert(raw, out, patch_size=size, overlap=size // 4)
        return out
    raise KeyError(name)


def small_heads(cfg: Config, width: int = 64) -> None:
    """Narrower FPN and RoI heads and fewer samples: the detectors' 256/1024-wide heads and
    512 RoIs per image dominate CPU time and are not what these runs check."""
    m = cfg.model
    m.neck.out_channels = width
    m.rpn_head.in_channels = width
    m.rpn_head.feat_channels = width
    m.roi_head.bbox_roi_extractor.out_channels = width
    m.roi_head.bbox_head.in_channels = width
    m.roi_head.bbox_head.fc_out_channels = 4 * width
    m.train_cfg.rpn.sampler.num = 128
    m.train_cfg.rpn_proposal.update(nms_pre=400, max_per_img=200)
    m.train_cfg.rcnn.sampler.num = 128
    m.test_cfg.rpn.update(nms_pre=400, max_per_img=200)


def tiny_config(
    name: str,
    data_root: str,
    work_dir: str,
    max_iters: int = 1,
    size: int = 128,
    batch_size: int = 2,
    lr: float | None = None,
    head_width: int = 64,
    path: str | None = None,
) -> Config:
    """The dataset's config (or the one at ``path``) with the tiny backbone, small heads,
    ``size`` px inputs, generated data and a short iteration-based schedule (the real one is
    12 epochs)."""
    cfg = load_tiny(path or CONFIGS[name], name, work_dir, with_cp=False)
    tiny_channels(cfg.model, ints=False)
    small_heads(cfg, head_width)
    set_in_pipelines(cfg, 'mmdet.Resize', scale=(size, size))
    shorten(cfg, data_root, max_iters, test_samples=None, lr=lr, batch_size=batch_size, warmup=True)
    cfg.log_processor = dict(by_epoch=False)
    return cfg
