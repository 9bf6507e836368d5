# SkySense V2 on DIOR (paper Table 2b: mAP 79.50), Faster R-CNN + FPN on the four stages of the
# single-modal (hr) backbone, 800 px images, 1x schedule with layer-wise lr decay.
_base_ = [
    '../_base_/models/faster_rcnn_skysense_v2_fpn.py',
    '../_base_/datasets/dior.py',
    '../_base_/schedules/finetune_det_12e.py',
]
pretrained = 'checkpoints/skysense_v2_huge_pretrain.pth'  # SkySense V2 pretraining checkpoint
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    roi_head=dict(bbox_head=dict(num_classes=20)),
)
# printed beside this run's figure by tools/test.py (same key and scale as the metric)
paper_result = dict(metric='pascal_voc/mAP', value=0.7950, source='SkySense V2, Table 2b (DIOR)')
