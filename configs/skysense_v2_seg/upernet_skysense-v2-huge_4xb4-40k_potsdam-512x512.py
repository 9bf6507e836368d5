# SkySense V2 on ISPRS Potsdam (paper Table 2a: mF1), UperNet on 512 px patches.
_base_ = [
    '../_base_/models/upernet_skysense_v2.py',
    '../_base_/datasets/potsdam.py',
    '../_base_/schedules/finetune_seg_40k.py',
]
pretrained = 'checkpoints/skysense_v2_huge_pretrain.pth'  # SkySense V2 pretraining checkpoint
model = dict(
    data_preprocessor=dict(size=(512, 512)),
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(num_classes=6),
    auxiliary_head=dict(num_classes=6),
)
