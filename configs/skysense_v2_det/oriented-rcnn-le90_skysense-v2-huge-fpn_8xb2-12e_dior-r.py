# SkySense V2 on DIOR-R (paper Table 2b: mAP 75.29), Oriented R-CNN (le90) + FPN on the four
# stages of the single-modal (hr) backbone, 800 px images, 1x schedule with layer-wise lr decay.
_base_ = [
    '../_base_/models/oriented_rcnn_skysense_v2_fpn.py',
    '../_base_/datasets/dior_r.py',
    '../_base_/schedules/finetune_det_12e.py',
]
pretrained = 'checkpoints/skysense_v2_huge_pretrain.pth'  # SkySense V2 pretraining checkpoint
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    roi_head=dict(bbox_head=dict(num_classes=20)),
)
paper_result = dict(metric='dota/mAP', value=0.7529, source='SkySense V2, Table 2b (DIOR-R)')
