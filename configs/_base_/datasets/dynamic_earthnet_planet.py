# Dyna.-Pla: DynamicEarthNet monthly labels from one Planet Fusion image per month (1024 px,
# 3 m). The RGB bands (3, 2, 1 of the B, G, R, NIR files) go through the backbone's HR branch
# so that its pretrained tokenizer and prompts apply. Snow & ice is ignored (6 classes scored).
dataset_type = 'DynamicEarthNetDataset'
# pixel size (m) the model is trained at: tools/infer_large_scene.py checks a scene against it
scene_gsd = 3.0  # Planet Fusion's 3 m
data_root = 'data/DynamicEarthNet'
crop_size = (512, 512)
# the model's bands by name (scene inference matches a file's bands to them: band descriptions,
# --band-preset; docs/interfaces.md, Bands by name)
band_names = ['R', 'G', 'B']  # bands 3, 2, 1 of a Planet B, G, R, NIR file
train_pipeline = [
    dict(type='LoadMultiBandImage', bands=[3, 2, 1], num_bands=3),
    dict(type='LoadOneHotLabel', num_classes=7, ignore_classes=(6,)),
    dict(type='mmseg.RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='mmseg.PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadMultiBandImage', bands=[3, 2, 1], num_bands=3),
    dict(type='LoadOneHotLabel', num_classes=7, ignore_classes=(6,)),
    dict(type='mmseg.PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        modality='planet',
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        modality='planet',
        pipeline=test_pipeline,
    ),
)
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        modality='planet',
        pipeline=test_pipeline,
    ),
)
val_evaluator = dict(type='mmseg.IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
