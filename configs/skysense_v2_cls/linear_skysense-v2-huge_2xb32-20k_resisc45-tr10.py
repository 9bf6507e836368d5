# SkySense V2 on NWPU-RESISC45 (paper Table 1: OA at TR 10% / 20%); this config: TR 10%.
_base_ = [
    '../_base_/models/linear_cls_skysense_v2.py',
    '../_base_/datasets/resisc45.py',
    '../_base_/schedules/finetune_cls_20k.py',
]
pretrained = 'checkpoints/skysense_v2_huge_pretrain.pth'  # SkySense V2 pretraining checkpoint
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    head=dict(num_classes=45),
)
