# Multi-modal segmentation with an FCN head (paper Table 3b, PASTIS-MM: "a straightforward FCN
# head"): the last fused map only (F_fus), at stride 4 of the 10 m grid (ms_scales=(1,)).
_base_ = ['./skysense_v2_mm.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)  # reverted to BN when not distributed
model = dict(
    type='MultiModalEncoderDecoder',
    data_preprocessor=dict(type='MultiModalDataPreprocessor'),
    backbone={{_base_.last_stage_backbone}},
    fusion_neck={{_base_.last_stage_fusion_neck}},
    decode_head=dict(
        type='mmseg.FCNHead',
        in_channels={{_base_.fused_dims}},  # F_fus's width
        in_index=0,
        channels=256,
        num_convs=2,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='mmseg.CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True
        ),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),
)
