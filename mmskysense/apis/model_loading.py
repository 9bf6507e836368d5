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
    shape-mismatched keys are an error, unexpected ones a warning. A checkpoint's
    ``meta.input_contract`` (written in training) becomes ``model.input_contract``.

    ``mmap`` (a local file of torch's zip format): the model is built without weights
    (``parameters_on_meta``) and takes the checkpoint's tensors, mapped from the file
    (``load_weights(assign=True)``): the weights are held once, not twice
    (benchmarks/bench_checkpoint_loading.py). The parameters are then copy-on-write pages of
    the file until moved to another device: do not overwrite the file while such a model lives
    on the CPU (``mmap=False`` reads it into memory instead).

    ``checkpoint`` may also be a sharded pretraining checkpoint (the directory ``iter_N.pth/``
    FSDP2Strategy writes): its model tensors are read from the shards, each allocated once and
    taken by the model (the optimiser's state is not read).
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
        stored = (ckpt.get('meta') or {}).get('input_contract')  # CONTRACT_KEY
        if stored is not None:
            from mmskysense.apis.scene.contract import CONTRACT_KEY, contract_from_dict

            # the contract training wrote (InputContractHook) wins over the config's pipelines
            model.input_contract = contract_from_dict(stored, f'{checkpoint}: meta.{CONTRACT_KEY}')
        del ckpt  # the tensors the model did not take (e.g. an optimiser state) go now
    model.cfg = cfg
    return model.to(device).eval(), meta


def checkpoint_contract(checkpoint: str | None):
    """The input contract a local checkpoint holds (``meta.input_contract``, written by
    ``tools/train.py``), read without loading its weights (memory-mapped); None when the
    checkpoint is not a local file or holds no contract. A contract that does not parse is an
    error naming the file."""
    import os.path as osp

    from mmskysense.apis.scene.contract import CONTRACT_KEY, contract_from_dict
    from mmskysense.compat.checkpoint_loading import checkpoint_safe_globals

    if not checkpoint or not osp.isfile(checkpoint):
        return None  # a URL, or a missing file: init_model says so when it loads it
    try:
        with torch.serialization.safe_globals(checkpoint_safe_globals()):
            ckpt = torch.load(checkpoint, map_location='cpu', mmap=True, weights_only=True)
    except Exception:  # an older file format, or objects outside the allowlist
        return None  # init_model reads it fully (and reports what is wrong)
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    stored = (meta or {}).get(CONTRACT_KEY)
    if stored is None:
        return None
    return contract_from_dict(stored, f'{checkpoint}: meta.{CONTRACT_KEY}')
