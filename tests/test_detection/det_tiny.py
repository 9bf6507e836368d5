"""Shrinking the detection configs to the tiny backbone on generated data.

Shared by the config tests and by ``finetune_det_tiny.py`` (the CPU fine-tuning check). Not a
test module itself; tests load it by path since pytest runs with ``--import-mode=importlib``.
"""

import importlib.util
import os.path as osp
from collections.abc import Sequence
from pathlib import Path

from fake_releases import detection as fake
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
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
HUGE_TO_TINY = {352: 32, 704: 64, 1408: 128, 2816: 256}


def load_converter(name: str):
    path = ROOT / 'tools' / 'dataset_converters' / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f'converter_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def _tiny_channels(obj):
    if isinstance(obj, dict):
        for key, value in obj.items():
            if (
                key == 'in_channels'
                and isinstance(value, (list, tuple))
                and value
                and all(v in HUGE_TO_TINY for v in value)
            ):
                obj[key] = [HUGE_TO_TINY[v] for v in value]
            else:
                _tiny_channels(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _tiny_channels(value)


def _datasets(loader_cfg):
    ds = loader_cfg['dataset']
    return ds['datasets'] if ds.get('type') == 'ConcatDataset' else [ds]


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
    cfg = Config.fromfile(str(ROOT / (path or CONFIGS[name])))
    cfg.work_dir = work_dir
    cfg.experiment_name = f'tiny_{name}_{osp.basename(work_dir)}'
    cfg.randomness = dict(seed=0)
    backbone = cfg.model.backbone
    backbone.arch = 'tiny'
    backbone.init_cfg = None
    backbone.drop_path_rate = 0.0
    backbone.with_cp = False
    _tiny_channels(cfg.model)
    small_heads(cfg, head_width)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dl = cfg[loader]
        dl.batch_size = batch_size
        dl.num_workers = 0
        dl.persistent_workers = False
        for ds in _datasets(dl):
            ds['data_root'] = data_root
            for step in ds['pipeline']:
                if step['type'] == 'mmdet.Resize':
                    step['scale'] = (size, size)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
    warmup = max_iters // 10
    cfg.param_scheduler = [
        dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=False, begin=warmup, end=max_iters)
    ]
    if warmup:
        cfg.param_scheduler.insert(
            0, dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup)
        )
    if lr is not None:
        cfg.optim_wrapper.optimizer.lr = lr
    cfg.val_dataloader = None
    cfg.val_cfg = None
    cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=max(1, max_iters // 10))
    cfg.log_processor = dict(by_epoch=False)
    cfg.log_level = 'WARNING'
    return cfg
