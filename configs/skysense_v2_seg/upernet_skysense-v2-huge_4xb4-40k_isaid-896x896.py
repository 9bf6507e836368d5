# SkySense V2 on iSAID (paper Table 2a: mIoU), UperNet on 896 px patches.
_base_ = [
    '../_base_/models/upernet_skysense_v2.py',
    '../_base_/datasets/isaid.py',
    '../_base_/schedules/finetune_seg_40k.py',
]
pretrained = 'checkpoints/skysense_v2_huge_pretrain.pth'  # SkySense V2 pretraining checkpoint
model = dict(
    data_preprocessor=dict(size=(896, 896)),
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(num_classes=16),
    auxiliary_head=dict(num_classes=16),
)
