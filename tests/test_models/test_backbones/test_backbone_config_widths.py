"""Every model config under configs/ builds on the meta device at its own size, and every neck
and head reads the widths its backbone gives: checked from the built modules' ``in_channels``
and by a forward of meta tensors (which fails on any width a config states inconsistently).
A config states the backbone's width once (a variable of its base model file); these tests are
what catches a width stated twice and changed once."""

import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[3]
NOT_MODELS = (
    'configs/_base_/datasets/',
    'configs/_base_/schedules/',
    'configs/_base_/default_runtime.py',
)
CONFIGS = sorted(
    str(p.relative_to(REPO))
    for p in (REPO / 'configs').rglob('*.py')
    if not str(p.relative_to(REPO)).startswith(NOT_MODELS)
)
# necks that change the channels (the heads behind them read the neck's width)
CHANNEL_MAPPING_NECKS = ('mmdet.FPN',)


@pytest.fixture(scope='module')
def text_embeddings(tmp_path_factory):
    path = tmp_path_factory.mktemp('text') / 'text.pth'
    torch.save(dict(class_names=['a', 'b'], embeddings=torch.randn(2, 8)), path)
    return str(path)


def build_on_meta(cfg_model: dict, backbone_only: bool = False):
    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    cfg_model = copy.deepcopy(cfg_model)
    backbone = cfg_model if backbone_only else cfg_model['backbone']
    # routing counts tokens (data-dependent): the dense model has the same widths
    backbone['use_moe'] = False
    backbone.pop('init_cfg', None)
    with torch.device('meta'):
        return MODELS.build(cfg_model)


def _expected(channels, in_index):
    if isinstance(in_index, int):
        return channels[in_index]
    return [channels[i] for i in in_index]


def check_structure(model, neck_type) -> None:
    """Each neck's and head's ``in_channels`` against the backbone's ``out_channels``."""
    channels = list(model.backbone.out_channels)
    for name in ('temporal_neck', 'neck'):
        neck = getattr(model, name, None)
        if neck is not None and getattr(neck, 'in_channels', None) is not None:
            assert list(neck.in_channels) == channels, (
                f'{name}.in_channels {neck.in_channels} != backbone channels {channels}'
            )
    if neck_type in CHANNEL_MAPPING_NECKS:
        return
    if neck_type == 'SiameseFusionNeck' and model.neck.policy == 'concat':
        channels = [2 * c for c in channels]  # the two dates side by side
    for name in ('decode_head', 'auxiliary_head'):
        head = getattr(model, name, None)
        if head is not None:
            want = _expected(channels, head.in_index)
            assert head.in_channels == want, (
                f'{name}.in_channels {head.in_channels} != backbone channels {want}'
            )
    head = getattr(model, 'head', None)
    if head is not None and hasattr(head, 'in_channels'):
        assert head.in_channels == channels[-1], (
            f'head.in_channels {head.in_channels} != backbone channels {channels[-1]}'
        )


def check_multimodal_structure(model) -> None:
    """Multi-modal models: the fusion neck reads the backbone's widths, the heads the fused ones."""
    channels = list(model.backbone.out_channels)
    neck = model.fusion_neck
    assert list(neck.in_channels) == channels, (
        f'fusion_neck.in_channels {neck.in_channels} != backbone channels {channels}'
    )
    fused = list(neck.out_channels)
    for name in ('decode_head', 'auxiliary_head'):
        head = getattr(model, name, None)
        if head is not None:
            want = _expected(fused, head.in_index)
            assert head.in_channels == want, (
                f'{name}.in_channels {head.in_channels} != fused channels {want}'
            )
    head = getattr(model, 'head', None)
    if head is not None and hasattr(head, 'in_channels'):
        assert head.in_channels == fused[-1], (
            f'head.in_channels {head.in_channels} != fused channels {fused[-1]}'
        )


def check_forward(model) -> None:
    """Meta tensors through the backbone, the necks and the heads (shapes only)."""
    backbone = model.backbone
    # temporal and Siamese models: two dates stacked along the channels
    dates = 2 if hasattr(model, 'bands_per_date') else 1
    x = torch.empty(
        1, backbone.modalities[backbone.modality]['in_channels'] * dates, 64, 64, device='meta'
    )
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(x)
        if hasattr(model, 'decode_head'):  # mmseg, change detection
            model.decode_head(feats)
            if getattr(model, 'auxiliary_head', None) is not None:
                model.auxiliary_head(feats)
        elif hasattr(model, 'rpn_head'):  # mmdet, mmrotate: the RoI head needs proposals
            model.rpn_head(feats)
        else:  # mmpretrain
            model.head(feats)


def _neck_type(cfg) -> str:
    return (cfg.model.get('neck') or {}).get('type')


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds_and_its_widths_agree(path, text_embeddings):
    cfg = Config.fromfile(str(REPO / path))
    if 'model' not in cfg:
        # the core's argument file: the backbone alone
        assert 'backbone' in cfg, f'{path} defines neither `model` nor `backbone`'
        build_on_meta(cfg.backbone, backbone_only=True)
        return
    if cfg.model.get('ita_head') is not None:
        cfg.model.ita_head.loss.text_embeddings = text_embeddings
    model = build_on_meta(cfg.model)
    if cfg.model.type == 'SkySenseV2':
        # the algorithm derives the fusion's and the heads' input widths from the backbone;
        # a config that states one must state the backbone's
        last = model.backbone.out_channels[-1]
        for name in ('fusion', 'mgcl_head'):
            stated = cfg.model[name].get('in_dims')
            assert stated in (None, last), f'{path}: {name}.in_dims {stated} != {last}'
        return
    if hasattr(model, 'fusion_neck'):
        # multi-modal tasks (Table 3): the core backbone, a dict of modalities in
        assert type(model.backbone).__name__ == 'SkySenseV2Backbone', path
        check_multimodal_structure(model)
        return
    assert type(model.backbone).__name__ == 'SkySenseV2SingleModal', path
    check_structure(model, _neck_type(cfg))
    check_forward(model)


@pytest.mark.parametrize(
    'path, key, index',
    [
        ('configs/_base_/models/upernet_skysense_v2.py', 'auxiliary_head', None),
        ('configs/_base_/models/bit_skysense_v2.py', 'decode_head', 1),
        (
            'configs/skysense_v2_cls/linear_skysense-v2-huge_4xb16-20k_fmow-s2.py',
            'temporal_neck',
            0,
        ),
        ('configs/_base_/models/faster_rcnn_skysense_v2_fpn.py', 'neck', 3),
    ],
)
def test_a_width_stated_inconsistently_fails(path, key, index):
    """The negative control: one width off by 32 channels fails both checks."""
    cfg = Config.fromfile(str(REPO / path))
    if index is None:
        cfg.model[key].in_channels += 32
    else:
        cfg.model[key].in_channels[index] += 32
    model = build_on_meta(cfg.model)
    with pytest.raises(AssertionError, match=f'{key}.in_channels'):
        check_structure(model, _neck_type(cfg))
    with pytest.raises(RuntimeError):
        check_forward(model)


def test_a_fused_width_stated_inconsistently_fails():
    """The negative control of the multi-modal check: the head off by 32 channels of F_fus."""
    cfg = Config.fromfile(str(REPO / 'configs/_base_/models/upernet_skysense_v2_mm.py'))
    cfg.model.decode_head.in_channels[3] += 32
    model = build_on_meta(cfg.model)
    with pytest.raises(AssertionError, match='decode_head.in_channels'):
        check_multimodal_structure(model)
