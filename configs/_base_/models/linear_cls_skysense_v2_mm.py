# Multi-modal multi-label classification (paper Table 3c, BEN-MM): the last fused map (F_fus),
# global average pooling and a multi-label linear head (19 classes).
_base_ = ['./skysense_v2_mm.py']
model = dict(
    type='MultiModalImageClassifier',
    data_preprocessor=dict(type='MultiModalDataPreprocessor'),
    backbone={{_base_.last_stage_backbone}},
    fusion_neck={{_base_.last_stage_fusion_neck}},
    neck=dict(type='mmpretrain.GlobalAveragePooling'),
    head=dict(
        type='mmpretrain.MultiLabelLinearClsHead',
        num_classes=19,
        in_channels={{_base_.fused_dims}},  # F_fus's width
        loss=dict(type='mmpretrain.CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
    ),
)
