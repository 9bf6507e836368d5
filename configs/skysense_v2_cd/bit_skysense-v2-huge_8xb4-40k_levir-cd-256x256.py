# SkySense V2 on LEVIR-CD (paper Table 2c: F1 of the changed class, 94.83), BIT on the HR branch.
# Training on random 256 px crops of the 1024 px pairs, 8 GPUs x 4 pairs, 40k iterations.
#
# Test protocol: WHOLE 1024 x 1024 px images (test_cfg mode='whole'), the changed-class scores
# pooled over all pixels of the 128 test pairs. The other protocol, BIT's 256 x 256 px tiles
# (non-overlapping; the choice moves F1 by up to a point), is
# bit_skysense-v2-huge_8xb4-40k_levir-cd-256x256_tile-test.py (the same model and training).
_base_ = [
    '../_base_/models/bit_skysense_v2.py',
    '../_base_/datasets/levir_cd.py',
    '../_base_/schedules/finetune_seg_40k.py',
]
pretrained = 'checkpoints/skysense_v2_huge_pretrain.pth'  # SkySense V2 pretraining checkpoint
crop_size = (256, 256)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(modality='hr', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    test_cfg=dict(mode='whole'),
)
train_dataloader = dict(batch_size=4)
default_hooks = dict(checkpoint=dict(save_best='change/F1', rule='greater'))
