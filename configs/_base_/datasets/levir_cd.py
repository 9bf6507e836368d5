# LEVIR-CD building change detection: 1024 x 1024 px RGB pairs at 0.5 m, labels 0 / 255,
# {train,val,test}/{A,B,label}/*.png (445 / 64 / 128 pairs; LEVIRCDDataset also reads the three
# archives extracted into one folder). Training: random 256 px crops of the 1024 px images,
# the same geometry for both dates, photometric jitter per date, random date exchange.
# Test protocol: the experiment config states it (whole 1024 px images or 256 px tiles).
dataset_type = 'LEVIRCDDataset'
# pixel size (m) the model is trained at: tools/infer_large_scene.py checks a scene against it
scene_gsd = 0.5  # the pairs' 0.5 m
data_root = 'data/LEVIR-CD'
crop_size = (256, 256)
meta_keys = (
    'img_path',
    'img_paths',
    'seg_map_path',
    'ori_shape',
    'img_shape',
    'pad_shape',
    'scale_factor',
    'flip',
    'flip_direction',
    'reduce_zero_label',
    'date_exchanged',
)
train_pipeline = [
    dict(type='LoadImagePair', num_bands=3),
    dict(type='LoadBinaryChangeLabel'),
    dict(type='mmseg.RandomRotate', prob=0.5, degree=180, pad_val=0, seg_pad_val=255),
    dict(type='mmseg.RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='PairPhotometricJitter', brightness=0.1, contrast=0.2, prob=0.5, clip=(0, 255)),
    dict(type='RandomDateExchange', prob=0.5),
    dict(type='mmseg.PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImagePair', num_bands=3),
    dict(type='LoadBinaryChangeLabel'),
    dict(type='mmseg.PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline),
)
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline),
)
# precision / recall / F1 / IoU of the changed class; F1 is the paper's number
val_evaluator = dict(type='ChangeDetectionMetric')
test_evaluator = val_evaluator
