# SkySense V2 on Dyna.-Pla (paper Table 2a: mIoU on val / test), UperNet on Planet RGB.
# Training on 512 px crops of the 1024 px cubes; sliding-window inference.
_base_ = [
    '../_base_/models/upernet_skysense_v2.py',
    '../_base_/datasets/dynamic_earthnet_planet.py',
    '../_base_/schedules/finetune_seg_40k.py',
]
pretrained = 'checkpoints/skysense_v2_huge_pretrain.pth'  # SkySense V2 pretraining checkpoint
# Planet Fusion surface reflectance (x 1e4) is read as R, G, B. Statistics: those the dataset
# authors publish with their loader (aysim/dynnet data/utae_dynamicen.py, R, G, B of R, G, B, NIR)
planet_mean = [1042.59240722656, 915.618408203125, 671.260559082031]
planet_std = [957.958435058593, 715.548767089843, 596.943908691406]
model = dict(
    data_preprocessor=dict(mean=planet_mean, std=planet_std, bgr_to_rgb=False, size=(512, 512)),
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(num_classes=6),
    auxiliary_head=dict(num_classes=6),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(384, 384)),
)
