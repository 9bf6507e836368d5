# SkySense V2 on fMoW-Sentinel, temporal (paper Table 1: top-1 / top-5 accuracy, TR 100%).
# Each location's series goes through the MS branch date by date; TemporalPooling (masked,
# attention over the real dates) pools the last stage before average pooling and the head.
_base_ = [
    '../_base_/models/linear_cls_skysense_v2.py',
    '../_base_/datasets/fmow_sentinel.py',
    '../_base_/schedules/finetune_cls_20k.py',
]
pretrained = 'checkpoints/skysense_v2_huge_pretrain.pth'  # SkySense V2 pretraining checkpoint
num_dates = 6  # must match the dataset config's LoadTimeSeries
# fMoW-Sentinel band statistics (SatMAE) of B2-B8, B8A, B11, B12
s2_mean = [1184.4, 1120.8, 1136.3, 1263.7, 1645.4, 1846.9, 1762.6, 1972.6, 1732.2, 1247.9]
s2_std = [650.3, 712.1, 965.2, 949.0, 1108.1, 1258.4, 1233.2, 1364.4, 1310.4, 1087.6]
model = dict(
    type='TemporalImageClassifier',
    bands_per_date=10,
    temporal_neck=dict(
        type='TemporalPooling', mode='attention', in_channels=[{{_base_.last_channels}}]
    ),
    data_preprocessor=dict(mean=s2_mean * num_dates, std=s2_std * num_dates, to_rgb=False),
    backbone=dict(modality='s2', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    head=dict(num_classes=62, topk=(1, 5)),
)
