# NWPU-RESISC45 scene classification (45 classes, 256 x 256 RGB). Official layout:
# NWPU-RESISC45/<class>/<class>_<nnn>.jpg.
# Training ratio (paper: 10% and 20%) is drawn per class with a fixed seed; the test split is
# the complement of the same draw, so both datasets must carry the same train_ratio and seed.
dataset_type = 'RESISC45Dataset'
data_root = 'data/NWPU-RESISC45'
train_ratio = 0.1
split_seed = 0
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmpretrain.RandomResizedCrop', scale=224),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='mmpretrain.PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='mmpretrain.PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        train_ratio=train_ratio,
        seed=split_seed,
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        train_ratio=train_ratio,
        seed=split_seed,
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
# overall accuracy (OA) = top-1 accuracy
val_evaluator = dict(type='mmpretrain.Accuracy', topk=(1,))
test_evaluator = val_evaluator
