"""Build a model from an mmskysense config and load a checkpoint for inference."""

import contextlib
import copy

import torch
from mmengine.config import Config


def init_model(
    config: str | Config,
    checkpoint: str | None = None,
    device: str = 'cpu',
    cfg_options: dict | None = None,
    mmap: bool = True,
) -> tuple[torch.nn.Module, dict]:
    """Return ``(model, dataset_meta)``; ``dataset_meta`` comes from the checkpoint when saved.

    ``config`` is a path, or a config a caller has already loaded (not modified: a copy is
    used); ``cfg_options`` are merged into it.

    The checkpoint goes through the one loader (DDP / FSDP key segments, SkySense V1
    keys and MoE upcycling of each backbone in the model) and must fit the model: missing or
    shape-mismatched keys are an error, unexpected ones a warning.

    ``mmap`` (a local file of torch's zip format): the model is built without weights
    (``parameters_on_meta``) and takes the checkpoint's tensors, mapped from the file
    (``load_weights(assign=True)``): the weights are held once, not twice
    (benchmarks/bench_checkpoint_loading.py). The parameters are then copy-on-write pages of
    the file until moved to another device: do not overwrite the file while such a model lives
    on the CPU (``mmap=False`` reads it into memory instead).
    """
    from mmskysense.models.utils import load_weights, parameters_on_meta, read_checkpoint
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
    assign = mmap and checkpoint is not None
    # with the weights taken from the file, the model's own are never allocated
    with parameters_on_meta() if assign else contextlib.nullcontext():
        model = MODELS.build(cfg.model)
    meta = {}
    if checkpoint is not None:
        ckpt = read_checkpoint(checkpoint, mmap=mmap)
        model.checkpoint_report = load_weights(
            model, ckpt, strict=True, name=checkpoint, assign=assign
        )
        meta = ckpt.get('meta', {}).get('dataset_meta', {}) or {}
        del ckpt  # the tensors the model did not take (e.g. an optimiser state) go now
    model.cfg = cfg
    return model.to(device).eval(), meta
