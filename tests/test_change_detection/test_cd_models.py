"""The Siamese change detector, its fusion neck, the BIT head and the pair data preprocessor."""

import pytest
import torch

from mmskysense.utils import register_all_modules

register_all_modules()

TINY_CHANNELS = [32, 64, 128, 256]


def _detector(neck_policy, head, seed=0):
    from mmengine.config import ConfigDict

    from mmskysense.registry import MODELS

    torch.manual_seed(seed)
    cfg = ConfigDict(
        type='SiameseEncoderDecoder',
        data_preprocessor=dict(type='ChangeDetDataPreprocessor', mean=[0.0] * 3, std=[1.0] * 3),
        backbone=dict(
            type='SkySenseV2SingleModal',
            arch='tiny',
            modality='hr',
            drop_path_rate=0.0,
        ),
        neck=dict(type='SiameseFusionNeck', policy=neck_policy),
        decode_head=head,
        test_cfg=dict(mode='whole'),
    )
    return MODELS.build(cfg).eval()


def _fcn(in_channels):
    return dict(
        type='mmseg.FCNHead',
        in_channels=in_channels,
        in_index=0,
        channels=16,
        num_convs=1,
        concat_input=False,
        num_classes=2,
        dropout_ratio=0.0,
        norm_cfg=dict(type='BN'),
        loss_decode=dict(type='mmseg.CrossEntropyLoss', avg_non_ignore=True),
    )


def _bit(pos_embed):
    return dict(
        type='BITHead',
        in_channels=[2 * c for c in TINY_CHANNELS],
        channels=16,
        dec_depth=2,
        pos_embed=pos_embed,
        num_classes=2,
        dropout_ratio=0.0,
        norm_cfg=dict(type='BN'),
        loss_decode=dict(type='mmseg.CrossEntropyLoss', avg_non_ignore=True),
    )


def _logits_both_orders(model):
    torch.manual_seed(1)
    a, b = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ab = model(torch.cat([a, b], dim=1), mode='tensor')
        ba = model(torch.cat([b, a], dim=1), mode='tensor')
    return ab, ba


@pytest.mark.parametrize('neck, head', [('abs_diff', _fcn(32)), ('concat', _bit('shared'))])
def test_swapping_dates_changes_nothing_for_a_symmetric_model(neck, head):
    model = _detector(neck, head)
    if head['type'] == 'BITHead':
        with torch.no_grad():  # large positional vectors: any asymmetry would show
            model.decode_head.pos_embed.normal_(0, 1.0)
    ab, ba = _logits_both_orders(model)
    assert ab.shape[:2] == (2, 2)
    assert (ab - ba).abs().max() < 1e-5 * ab.abs().max()


@pytest.mark.parametrize('neck, head', [('diff', _fcn(32)), ('concat', _bit('learned'))])
def test_swapping_dates_changes_a_directional_model(neck, head):
    # the same check on models that tell the dates apart must see a difference
    model = _detector(neck, head)
    if head['type'] == 'BITHead':
        with torch.no_grad():
            model.decode_head.pos_embed.normal_(0, 1.0)
    ab, ba = _logits_both_orders(model)
    assert (ab - ba).abs().max() > 1e-3 * ab.abs().max()


def test_detector_loss_backward_predict():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    model = _detector('concat', _bit('learned')).train()
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 2, (1, 64, 64)))
        samples.append(s)
    data = model.data_preprocessor(
        dict(inputs=[torch.rand(6, 64, 64) * 255 for _ in range(2)], data_samples=samples), True
    )
    losses = model(**data, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    model.eval()
    test_batch = dict(inputs=[torch.rand(6, 64, 64) * 255], data_samples=[samples[0]])
    with torch.no_grad():
        out = model(**model.data_preprocessor(test_batch, False), mode='predict')
    assert out[0].pred_sem_seg.data.shape == (1, 64, 64)
    assert set(out[0].pred_sem_seg.data.unique().tolist()) <= {0, 1}


def test_semantic_tokens_are_attention_weighted_means():
    # softmax weights sum to one over the pixels: a constant map gives that constant as tokens
    model = _detector('concat', _bit('learned'))
    head = model.decode_head
    x = torch.full((1, 16, 8, 8), 3.0) + torch.arange(16.0).view(1, 16, 1, 1)
    tokens = head.semantic_tokens(x)
    assert tokens.shape == (1, 4, 16)
    assert torch.allclose(tokens, x[:, :, 0, 0][:, None].expand(1, 4, 16), atol=1e-5)


def test_fusion_policies():
    from mmskysense.models.necks import SiameseFusionNeck

    a, b = [torch.randn(1, 4, 3, 3)], [torch.randn(1, 4, 3, 3)]
    assert torch.equal(SiameseFusionNeck('concat')(a, b)[0], torch.cat([a[0], b[0]], 1))
    assert torch.equal(SiameseFusionNeck('diff')(a, b)[0], b[0] - a[0])
    assert torch.equal(SiameseFusionNeck('abs_diff')(a, b)[0], (a[0] - b[0]).abs())
    with pytest.raises(ValueError, match='policy must be one of'):
        SiameseFusionNeck('sum')
    with pytest.raises(ValueError, match='BITHead takes maps of both dates'):
        _detector('diff', dict(_bit('learned'), in_channels=[33, 64, 128, 256]))


def test_pair_data_preprocessor_normalises_each_date_alike():
    from mmskysense.models.data_preprocessors import ChangeDetDataPreprocessor

    pre = ChangeDetDataPreprocessor(mean=[10.0, 20.0], std=[2.0, 4.0])
    img = torch.tensor([10.0, 20.0, 12.0, 28.0]).view(4, 1, 1).expand(4, 2, 2)
    out = pre(dict(inputs=[img]), False)['inputs']
    assert out.shape == (1, 4, 2, 2)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.0, 0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match='expected 2 dates x 2 bands'):
        pre(dict(inputs=[torch.zeros(6, 2, 2)]), False)
