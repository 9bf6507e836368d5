# Fine-tuning of the demo (make demo): UperNet on the tiny SkySense V2 backbone, on the HR GeoTIFFs
# and OSM-like label rasters that mmskysense.datasets.geo.synthetic generates. The backbone
# checkpoint comes from the demo's pretraining (tools/model_converters/extract_teacher_backbone.py)
# at the path below; `--cfg-options model.backbone.init_cfg=None` fine-tunes from random weights.
_base_ = ['../_base_/models/upernet_skysense_v2.py', '../_base_/default_runtime.py']

class_names = ('water', 'vegetation', 'built_up', 'bare_soil')
palette = [[40, 90, 200], [60, 160, 60], [200, 60, 60], [200, 170, 110]]
num_classes = len(class_names)
crop_size = (128, 128)
# the tiny arch's width, stated once (the base file states the huge one)
embed_dims = 32
stage_channels = [embed_dims * 2**i for i in range(4)]
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(
        # rasterio reads bands in file order (R, G, B): no channel swap
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=False,
        size=crop_size,
    ),
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint='demo_outputs/pretrain/teacher_backbone.pth'),
    ),
    decode_head=dict(
        in_channels=stage_channels, channels=64, num_classes=num_classes, norm_cfg=norm_cfg
    ),
    auxiliary_head=dict(
        in_channels=stage_channels[2], channels=32, num_classes=num_classes, norm_cfg=norm_cfg
    ),
)
model_wrapper_cfg = None

data_root = 'data/geo_demo/finetune'
dataset_type = 'mmseg.BaseSegDataset'
metainfo = dict(classes=class_names, palette=palette)
train_pipeline = [
    dict(type='LoadMultiBandImage', num_bands=3),
    dict(type='LoadSegMapFromRaster', num_classes=num_classes),
    dict(type='mmseg.RandomCrop', crop_size=crop_size, cat_max_ratio=0.9),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='mmseg.PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadMultiBandImage', num_bands=3),
    dict(type='LoadSegMapFromRaster', num_classes=num_classes),
    dict(type='mmseg.PackSegInputs'),
]
# the generator writes samples/<id>/hr.tif next to samples/<id>/osm.tif
_dataset = dict(
    type=dataset_type,
    metainfo=metainfo,
    img_suffix='hr.tif',
    seg_map_suffix='osm.tif',
    reduce_zero_label=False,
)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        **_dataset,
        data_root=data_root + '/train',
        data_prefix=dict(img_path='samples', seg_map_path='samples'),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **_dataset,
        data_root=data_root + '/val',
        data_prefix=dict(img_path='samples', seg_map_path='samples'),
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='mmseg.IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=dict(max_norm=5.0),
)
max_iters = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    # no `end`: mmengine ends the decay at train_cfg.max_iters, whatever it is set to
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=20),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters),
)
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
