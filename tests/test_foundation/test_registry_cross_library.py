"""Our modules build from every downstream library's registry, and theirs from our configs."""

import pytest
import torch
from foundation_testing import REPO, run_python
from mmengine.config import Config

TINY = dict(arch='tiny', drop_path_rate=0.0, with_cp=False)


def test_registries_are_children_of_mmengine():
    import mmengine.registry as root

    import mmskysense.registry as ours

    for name in ours.__all__:
        reg = getattr(ours, name)
        assert reg.scope == 'mmskysense', name
        assert reg.parent is getattr(root, name), name
        assert reg._locations, f'{name} has no lazy import locations'


def test_register_all_modules_sets_default_scope():
    from mmengine.registry import DefaultScope

    from mmskysense.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    assert DefaultScope.get_current_instance().scope_name == 'mmskysense'


def test_one_process_builds_our_backbone_from_every_library():
    code = """
import torch
import mmskysense
import mmseg.models, mmdet.models, mmpretrain.models, mmrotate.models
from mmseg.registry import MODELS as SEG
from mmdet.registry import MODELS as DET
from mmpretrain.registry import MODELS as PRE
from mmrotate.registry import MODELS as ROT
x = torch.rand(1, 3, 64, 64)
for lib, reg in (("mmseg", SEG), ("mmdet", DET), ("mmpretrain", PRE), ("mmrotate", ROT)):
    m = reg.build(dict(type="mmskysense.SkySenseV2SingleModal", arch="tiny", modality="hr"))
    assert type(m).__name__ == "SkySenseV2SingleModal", (lib, type(m))
    feats = m(x)
    assert [f.shape[-1] for f in feats] == [16, 8, 4, 2], (lib, [f.shape for f in feats])
    print(lib, "OK")
"""
    proc = run_python(code, timeout=300)
    for lib in ('mmseg', 'mmdet', 'mmpretrain', 'mmrotate'):
        assert f'{lib} OK' in proc.stdout


def _build_from_config(path, **model_overrides):
    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(str(REPO / path))
    cfg.model.backbone.update(TINY)
    if 'neck' in cfg.model:  # the FPN reads the backbone's stages: the tiny arch's widths
        cfg.model.neck.in_channels = [32, 64, 128, 256]
    cfg.model.update(model_overrides)
    return MODELS.build(cfg.model)


def _det_sample(boxes, labels, size=128, box_cls=None):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    sample = DetDataSample(
        metainfo=dict(
            img_shape=(size, size),
            ori_shape=(size, size),
            pad_shape=(size, size),
            scale_factor=(1.0, 1.0),
        )
    )
    inst = InstanceData()
    inst.bboxes = box_cls(boxes) if box_cls is not None else boxes
    inst.labels = labels
    sample.gt_instances = inst
    return sample


def _loss_backward_predict(model, sample):
    """One training step's loss and backward, then predict; returns the predictions."""
    batch = model.data_preprocessor(
        dict(
            inputs=[torch.randint(0, 255, (3, 128, 128), dtype=torch.uint8)], data_samples=[sample]
        ),
        training=True,
    )
    losses = model.loss(batch['inputs'], batch['data_samples'])
    total = sum(v for k, v in losses.items() if 'loss' in k and isinstance(v, torch.Tensor))
    assert torch.isfinite(total)
    total.backward()
    # the detector's loss reaches our backbone
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters())
    model.eval()
    with torch.no_grad():
        return model.predict(batch['inputs'], batch['data_samples'])


def test_faster_rcnn_from_our_config_trains_and_predicts():
    torch.manual_seed(0)
    model = _build_from_config('configs/_base_/models/faster_rcnn_skysense_v2_fpn.py')
    assert type(model).__module__.startswith('mmdet')
    sample = _det_sample(
        torch.tensor([[10.0, 20.0, 60.0, 70.0], [70.0, 30.0, 120.0, 90.0]]), torch.tensor([1, 3])
    )
    pred = _loss_backward_predict(model, sample)
    assert pred[0].pred_instances.bboxes.shape[-1] == 4


def test_oriented_rcnn_from_our_config_trains_and_predicts():
    import mmrotate.structures  # noqa: F401  (registers the rotated box type)
    from mmrotate.structures import RotatedBoxes

    torch.manual_seed(0)
    model = _build_from_config('configs/_base_/models/oriented_rcnn_skysense_v2_fpn.py')
    sample = _det_sample(
        torch.tensor([[40.0, 40.0, 40.0, 20.0, 0.3], [90.0, 80.0, 30.0, 16.0, -0.5]]),
        torch.tensor([0, 2]),
        box_cls=RotatedBoxes,
    )
    pred = _loss_backward_predict(model, sample)
    assert pred[0].pred_instances.bboxes.shape[-1] == 5  # (cx, cy, w, h, angle)


@pytest.mark.parametrize('lib', ['mmseg', 'mmpretrain'])
def test_segmentor_and_classifier_with_our_backbone(lib):
    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    backbone = dict(type='SkySenseV2SingleModal', modality='hr', **TINY)
    if lib == 'mmseg':
        cfg = dict(
            type='mmseg.EncoderDecoder',
            data_preprocessor=dict(type='mmseg.SegDataPreProcessor', size=(64, 64)),
            backbone=backbone,
            decode_head=dict(
                type='mmseg.UPerHead',
                in_channels=[32, 64, 128, 256],
                in_index=[0, 1, 2, 3],
                channels=32,
                num_classes=5,
                norm_cfg=dict(type='BN', requires_grad=True),
                loss_decode=dict(type='mmseg.CrossEntropyLoss'),
            ),
        )
        model = MODELS.build(cfg)
        logits = model(torch.rand(2, 3, 64, 64), mode='tensor')
        assert logits.shape == (2, 5, 64 // 4, 64 // 4)
    else:
        cfg = dict(
            type='mmpretrain.ImageClassifier',
            # ImageClassifier's default preprocessor is an unscoped name (docs/registry.md)
            data_preprocessor=dict(type='mmpretrain.ClsDataPreprocessor'),
            backbone=backbone,
            neck=dict(type='mmpretrain.GlobalAveragePooling'),
            head=dict(
                type='mmpretrain.LinearClsHead',
                num_classes=7,
                in_channels=256,
                loss=dict(type='mmpretrain.CrossEntropyLoss'),
            ),
        )
        model = MODELS.build(cfg)
        logits = model(torch.rand(2, 3, 64, 64), mode='tensor')
        assert logits.shape == (2, 7)
