"""The paper's recipe (configs/skysense_v2, huge) builds on the meta device with the paper's
settings, and its optimizer covers the student only; its sharded variant differs only in the
runner, the strategy and the autocast."""

from pathlib import Path

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import DefaultOptimWrapperConstructor

from mmskysense.registry import MODELS
from mmskysense.utils import register_all_modules

REPO = Path(__file__).resolve().parents[2]
HUGE = REPO / 'configs/skysense_v2/skysense-v2_huge_128xb8-bf16-600k_geotiff.py'
HUGE_FSDP = REPO / 'configs/skysense_v2/skysense-v2_huge_128xb8-fsdp-bf16-600k_geotiff.py'


def test_huge_recipe_builds_on_meta_with_the_paper_settings(tmp_path):
    register_all_modules()
    text = tmp_path / 'text.pth'
    torch.save(
        dict(class_names=['a', 'b'], embeddings=F.normalize(torch.randn(2, 512), dim=1)), text
    )
    cfg = Config.fromfile(str(HUGE))
    # section 4.1: AdamW, lr 2e-4 cosine to 1e-6, 600k iterations, 8 per GPU, 2 + 6 crops
    assert cfg.optim_wrapper.optimizer.type == 'AdamW' and cfg.optim_wrapper.optimizer.lr == 2e-4
    assert cfg.param_scheduler[-1].type == 'CosineAnnealingLR'
    # no `end`: mmengine ends the decay at max_iters (Runner._build_param_scheduler)
    assert cfg.param_scheduler[-1].eta_min == 1e-6 and 'end' not in cfg.param_scheduler[-1]
    assert cfg.train_cfg.max_iters == 600000 and cfg.train_dataloader.batch_size == 8
    assert cfg.auto_scale_lr.base_batch_size == 1024
    crop = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'GeoMultiCrop'][0]
    assert (crop.num_global, crop.num_local) == (2, 6)
    assert cfg.model.backbone.arch == 'huge' and cfg.model.backbone.with_cp
    # bf16 autocast without a loss scaler (bf16 needs none; the scaler reads flags on the host)
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    # DDP: no search for unused parameters (every parameter gets a gradient), no broadcast of
    # the buffers (every rank updates them identically)
    assert cfg.model_wrapper_cfg.find_unused_parameters is False
    assert cfg.model_wrapper_cfg.broadcast_buffers is False

    cfg.model.ita_head.loss.text_embeddings = str(text)
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    n_backbone = sum(p.numel() for p in model.backbone.parameters())
    assert 1.9e9 < n_backbone < 2.1e9  # 8 experts in the last 6 blocks (paper: 1,994 M)

    wrapper_cfg = dict(type='OptimWrapper', optimizer=cfg.optim_wrapper.optimizer)
    optim = DefaultOptimWrapperConstructor(wrapper_cfg, cfg.optim_wrapper.paramwise_cfg)(model)
    in_optim = {id(p) for g in optim.optimizer.param_groups for p in g['params']}
    assert not any(id(p) in in_optim for p in model.teacher.parameters())
    names = {id(p): n for n, p in model.named_parameters()}
    for group in optim.optimizer.param_groups:
        name = names[id(group['params'][0])]
        no_decay = (
            name.endswith('.bias')
            or '.norm' in name
            or 'prompts.tokens' in name
            or 'queries' in name
            or 'fusion_token' in name
        )
        if no_decay:
            assert group['weight_decay'] == 0, name
    decayed = sum(
        p.numel()
        for g in optim.optimizer.param_groups
        if g['weight_decay'] > 0
        for p in g['params']
    )
    assert decayed > 2e9


def test_the_sharded_recipe_is_the_paper_recipe_on_fsdp2():
    register_all_modules()
    ddp, fsdp = Config.fromfile(str(HUGE)), Config.fromfile(str(HUGE_FSDP))
    assert fsdp.runner_type == 'FlexibleRunner'
    assert fsdp.strategy.type == 'mmskysense.FSDP2Strategy'
    assert (fsdp.strategy.param_dtype, fsdp.strategy.reduce_dtype) == ('bfloat16', 'float32')
    assert fsdp.strategy.state_dict_type == 'sharded'
    # the strategy's policy computes in bf16: no autocast on top
    assert fsdp.optim_wrapper.type == 'AutocastOptimWrapper' and fsdp.optim_wrapper.dtype is None
    for key in ('model', 'train_dataloader', 'param_scheduler', 'train_cfg', 'custom_hooks'):
        assert fsdp[key] == ddp[key], key
    assert fsdp.optim_wrapper.optimizer == ddp.optim_wrapper.optimizer
    assert fsdp.model.backbone.with_cp  # activation checkpointing per block
    from mmengine.registry import RUNNERS
    from mmengine.registry import STRATEGIES as ROOT_STRATEGIES

    # what tools/train.py builds (RUNNERS.build(cfg) when the config names a runner), and the
    # strategy FlexibleRunner builds before it sets the default scope
    assert RUNNERS.get(fsdp.runner_type).__name__ == 'FlexibleRunner'
    assert ROOT_STRATEGIES.get(fsdp.strategy.type).__name__ == 'FSDP2Strategy'
