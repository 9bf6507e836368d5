# Multi-modal segmentation with UperNet (paper Table 3a, Dyna.-MM): the fused maps of the four
# stages (the last one F_fus) feed mmseg's UPerHead, with an FCN auxiliary head on stage 3 (the
# heads of the single-modal UperNet recipe, upernet_skysense_v2.py).
_base_ = ['./skysense_v2_mm.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)  # reverted to BN when not distributed
model = dict(
    type='MultiModalEncoderDecoder',
    data_preprocessor=dict(type='MultiModalDataPreprocessor'),
    backbone={{_base_.backbone}},
    fusion_neck={{_base_.fusion_neck}},
    decode_head=dict(
        type='mmseg.UPerHead',
        in_channels={{_base_.upernet_in_channels}},  # C, 2C, 4C and F_fus's width
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512,
        dropout_ratio=0.1,
        num_classes=6,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='mmseg.CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True
        ),
    ),
    auxiliary_head=dict(
        type='mmseg.FCNHead',
        in_channels={{_base_.aux_in_channels}},
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=6,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='mmseg.CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4, avg_non_ignore=True
        ),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),  # the modalities' grids differ: whole-sample inference
)
