# DIOR horizontal detection (paper Table 2b): 800 px images, train on train + val, test on test;
# VOC07 11-point mAP at IoU 0.5 (mmdet's VOCMetric, with per-class APs). Layout: docs/downstream.md.
dataset_type = 'DIORDataset'
data_root = 'data/DIOR'
img_scale = (800, 800)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='mmdet.Resize', scale=img_scale, keep_ratio=True),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='mmdet.PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.Resize', scale=img_scale, keep_ratio=True),
    # loaded after the resize: the metric compares boxes in the original image's pixels
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(
        type='mmdet.PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
_trainval = [
    dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=f'ImageSets/Main/{split}.txt',
        data_prefix=dict(img_path='JPEGImages-trainval'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
    )
    for split in ('train', 'val')
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='mmdet.AspectRatioBatchSampler'),
    dataset=dict(type='ConcatDataset', datasets=_trainval),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Main/test.txt',
        data_prefix=dict(img_path='JPEGImages-test'),
        test_mode=True,
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='ClasswiseVOCMetric', metric='mAP', eval_mode='11points', iou_thrs=0.5)
test_evaluator = val_evaluator
