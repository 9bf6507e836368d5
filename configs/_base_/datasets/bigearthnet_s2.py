# BigEarthNet-S2 multi-label classification (19 classes). Official layout:
# BigEarthNet-v1.0/<patch>/<patch>_<band>.tif + <patch>_labels_metadata.json, train/val/test.csv.
# 10 bands (B2-B8, B8A, B11, B12) resampled to the 10 m grid (120 px), then to 128 px so that the
# stride-4 token grid (32) holds whole attention windows.
# Training ratio (paper: 10% and 100%) is a seeded random subset of the official train list.
dataset_type = 'BigEarthNetS2Dataset'
# pixel size (m) the model is trained at: tools/infer_large_scene.py checks a scene against it
scene_gsd = 10.0  # the 10 m grid of the patches
data_root = 'data/BigEarthNet'
# the model's bands by name (scene inference matches a file's bands to them: band descriptions,
# --band-preset; docs/interfaces.md, Bands by name)
band_names = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12']
train_ratio = 0.1
split_seed = 0
train_pipeline = [
    dict(type='LoadMultiBandImage', num_bands=10),
    dict(type='Resize', scale=(128, 128)),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='mmpretrain.PackInputs'),
]
test_pipeline = [
    dict(type='LoadMultiBandImage', num_bands=10),
    dict(type='Resize', scale=(128, 128)),
    dict(type='mmpretrain.PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
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
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline),
)
test_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline),
)
# mAP over the 19 classes (macro average of per-class average precision)
val_evaluator = dict(type='mmpretrain.AveragePrecision')
test_evaluator = val_evaluator
