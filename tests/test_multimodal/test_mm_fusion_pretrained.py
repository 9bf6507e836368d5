"""The downstream fusion (F_fus of MultiModalFusion) loads the pretraining's fusion weights from a
pretraining checkpoint through checkpoint_filter_fn(component='fusion'), with no key missing,
and a model with it trains."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location('mm_tiny', HERE / 'mm_tiny.py')
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)
_spec = importlib.util.spec_from_file_location(
    'tiny_pretraining', HERE.parent / 'test_selfsup' / 'tiny_pretraining.py'
)
pretraining = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pretraining)

# the tiny pretraining's F_fus: embed_dims 32, 1 layer, 2 heads, modalities hr, s2, s1
FUSION = dict(embed_dims=32, num_layers=1, num_heads=2, modalities=('hr', 's2', 's1'))


@pytest.fixture(scope='module')
def pretrain_ckpt(tmp_path_factory):
    """A pretraining checkpoint of the tiny SkySenseV2 whose student fusion and backbone differ
    from the teacher's, as after training; saved as mmengine saves (``state_dict``, ``meta``)."""
    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    root = tmp_path_factory.mktemp('pretrain')
    model = MODELS.build(
        pretraining.tiny_model_cfg(pretraining.text_embeddings(str(root / 't.pt')))
    )
    model.init_weights()
    with torch.no_grad():
        for p in [*model.fusion.parameters(), *model.backbone.parameters()]:
            p.add_(torch.randn_like(p))
    path = str(root / 'iter_100.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=100)), path)
    return path, model


def _downstream(path, **fusion):
    from mmengine.config import Config

    from mmskysense.registry import MODELS

    # the config's own init_cfgs (tiny_config clears them), with the tiny checkpoint
    config = Config.fromfile(str(tiny.ROOT / tiny.CONFIGS['dyna_planet_s2_s1'])).model
    cfg = tiny.tiny_config('dyna_planet_s2_s1', '/nonexistent', '/tmp/unused').model
    init = dict(config.fusion_neck.fusion.init_cfg, checkpoint=path)
    cfg.fusion_neck.fusion.update(FUSION, init_cfg=init)
    cfg.fusion_neck.fusion.update(fusion)
    cfg.decode_head.in_channels[-1] = FUSION['embed_dims']
    cfg.backbone.init_cfg = dict(config.backbone.init_cfg, checkpoint=path)
    return MODELS.build(cfg)


def test_fusion_loads_the_teacher_with_no_key_missing(pretrain_ckpt):
    path, pre = pretrain_ckpt
    model = _downstream(path)
    model.init_weights()
    fusion = model.fusion_neck.fusion
    report = fusion.pretrained_report
    assert report['missing_keys'] == [] and report['mismatched_keys'] == []
    assert report['unexpected_keys'] == []
    teacher = pre.teacher['fusion'].state_dict()
    student = pre.fusion.state_dict()
    for key, value in fusion.state_dict().items():
        assert torch.equal(value, teacher[key]), key
    assert not torch.equal(fusion.input_proj.weight, student['input_proj.weight'])
    # the backbone came from the teacher too (the config's init_cfg names no prefix)
    loaded = model.backbone.tokenizers['s1'].proj.weight
    assert torch.equal(loaded, pre.teacher['backbone'].tokenizers['s1'].proj.weight)
    assert not torch.equal(loaded, pre.backbone.tokenizers['s1'].proj.weight)


def test_fusion_student_and_wrapped_checkpoints(pretrain_ckpt, tmp_path):
    path, pre = pretrain_ckpt
    model = _downstream(path, init_cfg=dict(type='Pretrained', checkpoint=path, network='student'))
    model.init_weights()
    assert torch.equal(model.fusion_neck.fusion.input_proj.weight, pre.fusion.input_proj.weight)
    # saved under DDP: every key behind `module.`
    ddp = {'module.' + k: v for k, v in pre.state_dict().items()}
    fusion = model.fusion_neck.fusion
    fusion.load_pretrained(dict(state_dict=ddp))
    assert torch.equal(fusion.input_proj.weight, pre.teacher['fusion'].input_proj.weight)


def test_fusion_settings_must_match_the_pretraining(pretrain_ckpt):
    path, _ = pretrain_ckpt
    with pytest.raises(ValueError, match='missing keys .*encoder.layers.1'):
        _downstream(path, num_layers=2).init_weights()
    with pytest.raises(ValueError, match='no tensor of the checkpoint fits'):
        model = _downstream(path)
        model.fusion_neck.fusion.load_pretrained(dict(state_dict={'backbone.x': torch.zeros(1)}))


def test_model_with_the_pretrained_fusion_trains(pretrain_ckpt, mm_release, tmp_path):
    from mmengine.runner import Runner

    path, pre = pretrain_ckpt
    cfg = tiny.tiny_config('dyna_planet_s2_s1', mm_release('dyna'), str(tmp_path), max_iters=2)
    cfg.model.fusion_neck.fusion.update(FUSION, init_cfg=dict(type='Pretrained', checkpoint=path))
    cfg.model.decode_head.in_channels[-1] = FUSION['embed_dims']
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert math.isfinite(runner.message_hub.get_scalar('train/loss').current())
    fusion = runner.model.fusion_neck.fusion
    assert fusion.pretrained_report['missing_keys'] == []
    start = pre.teacher['fusion'].input_proj.weight
    moved = (fusion.input_proj.weight.detach() - start).abs().max()
    assert moved > 0  # trained from the pretrained weights


def test_filter_takes_only_the_components_it_knows():
    from mmskysense.models.backbones import checkpoint_filter_fn

    state = {'teacher.fusion.w': torch.ones(1), 'fusion.w': torch.zeros(1)}
    assert checkpoint_filter_fn(state, component='fusion') == {'w': state['teacher.fusion.w']}
    with pytest.raises(ValueError, match="`component` must be one of .*got 'neck'"):
        checkpoint_filter_fn(state, component='neck')
