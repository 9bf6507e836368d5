# SkySense V2 on Dyna.-S2 (paper Table 2a: mIoU on val / test), UperNet on the Sentinel-2
# monthly series. Per-date MS maps (stride 4 at every stage) are pooled over the real dates by
# TemporalPooling, then MSFeaturePyramid resamples them to strides 4/8/16/32 for UperNet.
_base_ = [
    '../_base_/models/upernet_skysense_v2.py',
    '../_base_/datasets/dynamic_earthnet_s2.py',
    '../_base_/schedules/finetune_seg_40k.py',
]
pretrained = 'checkpoints/skysense_v2_huge_pretrain.pth'  # SkySense V2 pretraining checkpoint
num_dates = 6  # must match the dataset config's LoadTimeSeries
# Sentinel-2 L2A band statistics (B2-B8, B8A, B11, B12), as for BigEarthNet-S2
s2_mean = [429.9, 614.2, 590.2, 950.7, 1792.5, 2075.5, 2218.9, 2266.5, 1594.4, 1009.3]
s2_std = [572.4, 582.9, 675.9, 729.9, 1096.0, 1273.5, 1365.5, 1356.1, 1079.2, 818.9]
model = dict(
    type='TemporalEncoderDecoder',
    bands_per_date=10,
    temporal_neck=dict(
        type='TemporalPooling', mode='attention', in_channels={{_base_.stage_channels}}
    ),
    neck=dict(
        type='MSFeaturePyramid',
        in_channels={{_base_.stage_channels}},
        scales=(1, 0.5, 0.25, 0.125),
        mode='pool',
    ),
    data_preprocessor=dict(
        mean=s2_mean * num_dates, std=s2_std * num_dates, bgr_to_rgb=False, size=(256, 256)
    ),
    backbone=dict(modality='s2', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(num_classes=6),
    auxiliary_head=dict(num_classes=6),
)
