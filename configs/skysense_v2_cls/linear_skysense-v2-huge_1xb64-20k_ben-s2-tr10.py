# SkySense V2 on BigEarthNet-S2 (paper Table 1: mAP at TR 10% / 100%); this config: TR 10%.
# Sentinel-2 (10 bands) through the backbone's MS branch; multi-label linear head.
_base_ = [
    '../_base_/models/linear_cls_skysense_v2.py',
    '../_base_/datasets/bigearthnet_s2.py',
    '../_base_/schedules/finetune_cls_20k.py',
]
pretrained = 'checkpoints/skysense_v2_huge_pretrain.pth'  # SkySense V2 pretraining checkpoint
# BigEarthNet-S2 L2A band statistics (B2-B8, B8A, B11, B12), from the bigearthnet-models release
s2_mean = [429.9, 614.2, 590.2, 950.7, 1792.5, 2075.5, 2218.9, 2266.5, 1594.4, 1009.3]
s2_std = [572.4, 582.9, 675.9, 729.9, 1096.0, 1273.5, 1365.5, 1356.1, 1079.2, 818.9]
model = dict(
    data_preprocessor=dict(mean=s2_mean, std=s2_std, to_rgb=False),
    backbone=dict(modality='s2', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    head=dict(
        _delete_=True,
        type='mmpretrain.MultiLabelLinearClsHead',
        num_classes=19,
        in_channels={{_base_.last_channels}},
        loss=dict(type='mmpretrain.CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
    ),
)
