"""Build a model from an mmskysense config and load a checkpoint for inference."""

import copy

import torch
from mmengine.config import Config


def init_model(
    config: str | Config,
    checkpoint: str | None = None,
    device: str = 'cpu',
    cfg_options: dict | None = None,
) -> tuple[torch.nn.Module, dict]:
    """Return ``(model, dataset_meta)``; ``dataset_meta`` comes from the checkpoint when saved.

    ``config`` is a path, or a config a caller has already loaded (not modified: a copy is
    used); ``cfg_options`` are merged into it.

    The checkpoint goes through the one loader (DDP / FSDP key segments, SkySense V1
    keys and MoE upcycling of each backbone in the model) and must fit the model: missing or
    shape-mismatched keys are an error, unexpected ones a warning.
    """
    from mmskysense.models.utils import load_weights, read_checkpoint
    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if not isinstance(cfg, Config):
        raise TypeError(
            'init_model: `config` must be a path or an mmengine Config, got '
            f'{type(config).__name__}'
        )
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    # the weights come from the checkpoint: skip downloads of pretrained backbones
    cfg.model.get('backbone', {}).pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    meta = {}
    if checkpoint is not None:
        ckpt = read_checkpoint(checkpoint)
        model.checkpoint_report = load_weights(model, ckpt, strict=True, name=checkpoint)
        meta = ckpt.get('meta', {}).get('dataset_meta', {}) or {}
    model.cfg = cfg
    return model.to(device).eval(), meta
