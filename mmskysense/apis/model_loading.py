"""Build a model from an mmskysense config and load a checkpoint for inference."""

import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint


def init_model(
    config: str, checkpoint: str | None = None, device: str = 'cpu', cfg_options: dict | None = None
) -> tuple[torch.nn.Module, dict]:
    """Return ``(model, dataset_meta)``; ``dataset_meta`` comes from the checkpoint when saved."""
    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    # the weights come from the checkpoint: skip downloads of pretrained backbones
    cfg.model.get('backbone', {}).pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    meta = {}
    if checkpoint is not None:
        ckpt = load_checkpoint(model, checkpoint, map_location='cpu')
        meta = ckpt.get('meta', {}).get('dataset_meta', {}) or {}
    model.cfg = cfg
    return model.to(device).eval(), meta
