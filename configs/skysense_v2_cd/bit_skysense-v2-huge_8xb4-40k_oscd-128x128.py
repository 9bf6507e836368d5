# SkySense V2 on OSCD (paper Table 2c: F1 of the changed class, 65.29), BIT on the Sentinel-2
# branch (10 bands; stride 4 at every stage, so the BIT head sees all stages on one grid).
# Training on random 128 px crops of the 14 train cities, 8 GPUs x 4 pairs, 40k iterations, no
# validation (OSCD has no val split); testing slides a 128 px window with stride 64 over each of
# the 10 test cities, overlapping logits averaged, scores pooled over all their pixels.
_base_ = [
    '../_base_/models/bit_skysense_v2.py',
    '../_base_/datasets/oscd.py',
    '../_base_/schedules/finetune_seg_40k.py',
]
pretrained = 'checkpoints/skysense_v2_huge_pretrain.pth'  # SkySense V2 pretraining checkpoint
crop_size = (128, 128)
# OSCD L1C digital numbers, per band (B2-B8, B8A, B11, B12): TorchGeo's OSCD statistics
s2_mean = [1351.33, 1257.11, 1254.93, 1388.69, 1827.67, 2050.27, 1963.46, 2182.68, 1909.84, 1379.60]
s2_std = [394.56, 508.97, 726.41, 686.61, 730.02, 822.01, 842.59, 895.76, 984.92, 844.77]
model = dict(
    data_preprocessor=dict(mean=s2_mean, std=s2_std, size=crop_size),
    backbone=dict(modality='s2', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    bands_per_date=10,
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(64, 64)),
)
train_dataloader = dict(batch_size=4)
train_cfg = dict(val_interval=40000)
val_cfg = None
default_hooks = dict(checkpoint=dict(save_best=None))
