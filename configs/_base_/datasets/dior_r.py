# DIOR-R oriented detection (paper Table 2b): DIOR's images, splits and loaders with the robndbox
# annotations, read as quadrilaterals and converted to mmrotate's rbox (le90 in the model);
# VOC07 11-point mAP at IoU 0.5 on rotated boxes (mmrotate's DOTAMetric, with per-class APs).
_base_ = ['./dior.py']
dataset_type = 'DIORRDataset'
img_scale = (800, 800)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='mmrotate.ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='mmdet.Resize', scale=img_scale, keep_ratio=True),
    dict(type='mmdet.RandomFlip', prob=0.75, direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='mmdet.PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.Resize', scale=img_scale, keep_ratio=True),
    # loaded after the resize: the metric compares boxes in the original image's pixels
    dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='mmrotate.ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(
        type='mmdet.PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
_trainval = [
    dict(
        type=dataset_type,
        data_root={{_base_.data_root}},
        ann_file=f'ImageSets/Main/{split}.txt',
        data_prefix=dict(img_path='JPEGImages-trainval'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
    )
    for split in ('train', 'val')
]
# mmrotate's DIOR config samples without aspect-ratio grouping (the images are all square)
train_dataloader = dict(batch_sampler=None, dataset=dict(datasets=_trainval))
val_dataloader = dict(dataset=dict(type=dataset_type, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True, type='ClasswiseDOTAMetric', metric='mAP', eval_mode='11points', iou_thrs=0.5
)
test_evaluator = val_evaluator
