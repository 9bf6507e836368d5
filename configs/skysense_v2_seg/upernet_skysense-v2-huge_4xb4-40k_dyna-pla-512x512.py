# SkySense V2 on Dyna.-Pla (paper Table 2a: mIoU on val / test), UperNet on Planet RGB.
# Training on 512 px crops of the 1024 px cubes; sliding-window inference.
_base_ = [
    '../_base_/models/upernet_skysense_v2.py',
    '../_base_/datasets/dynamic_earthnet_planet.py',
    '../_base_/schedules/finetune_seg_40k.py',
]
pretrained = 'checkpoints/skysense_v2_huge_pretrain.pth'  # SkySense V2 pretraining checkpoint
# Planet Fusion surface reflectance (x 1e4) is read as R, G, B; the statistics are estimates for
# typical land surfaces and are best recomputed on the train split
planet_mean = [700.0, 650.0, 450.0]
planet_std = [450.0, 350.0, 300.0]
model = dict(
    data_preprocessor=dict(mean=planet_mean, std=planet_std, bgr_to_rgb=False, size=(512, 512)),
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(num_classes=6),
    auxiliary_head=dict(num_classes=6),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(384, 384)),
)
