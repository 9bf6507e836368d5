# FAIR1M 1.0 oriented detection (paper Table 2b) on 1024 px patches with 200 px overlap, written by
#   python tools/dataset_converters/fair1m.py FAIR1M_ROOT -o data/FAIR1M_split
# Train on train/part1 + train/part2, evaluate on validation patches (the test labels are held by
# the organisers' server: tools/dataset_converters/fair1m_submission.py writes its format).
# VOC07 11-point mAP at IoU 0.5 on rotated boxes (mmrotate's DOTAMetric, with per-class APs).
dataset_type = 'FAIR1MDataset'
data_root = 'data/FAIR1M_split'
img_scale = (1024, 1024)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='mmrotate.ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='mmdet.Resize', scale=img_scale, keep_ratio=True),
    dict(type='mmdet.RandomFlip', prob=0.75, direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='mmdet.PackDetInputs'),
]
val_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.Resize', scale=img_scale, keep_ratio=True),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='mmrotate.ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(
        type='mmdet.PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
# the test patches have no labels
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.Resize', scale=img_scale, keep_ratio=True),
    dict(
        type='mmdet.PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
_train = [
    dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=f'train/{part}/annfiles',
        data_prefix=dict(img_path=f'train/{part}/images'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
    )
    for part in ('part1', 'part2')
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(type='ConcatDataset', datasets=_train),
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
        ann_file='validation/annfiles',
        data_prefix=dict(img_path='validation/images'),
        test_mode=True,
        pipeline=val_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='ClasswiseDOTAMetric', metric='mAP', eval_mode='11points', iou_thrs=0.5)
test_evaluator = val_evaluator
# the test patches (for the server): configs/skysense_v2_det/*_fair1m-1024-submission.py
