# AID scene classification (30 classes, 600 x 600 RGB). Official layout: AID/<Class>/<class>_<n>.jpg.
# Training ratio (paper: 20% and 50%) per class with a fixed seed, read from the split file that
# tools/dataset_converters/make_image_split.py writes (paths relative to data_root); the test
# split is the complement of the same draw. Train and test datasets carry the same file,
# train_ratio and seed (the dataset refuses a file drawn with another ratio or seed):
#   python tools/dataset_converters/make_image_split.py data/AID \
#       data/aid_splits/aid_tr20_seed0.json --train-ratio 0.2 --seed 0
# Another copy of AID (e.g. a read-only one): override data_root (and split_file) of each
# dataloader, e.g. --cfg-options test_dataloader.dataset.data_root=DIR
# test_dataloader.dataset.split_file=FILE (configs/skysense_v2_cls/README.md).
dataset_type = 'AIDDataset'
data_root = 'data/AID'
train_ratio = 0.2
split_seed = 0
split_file = 'data/aid_splits/aid_tr20_seed0.json'
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
        split_file=split_file,
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
        split_file=split_file,
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
# overall accuracy (OA) = top-1 accuracy
val_evaluator = dict(type='mmpretrain.Accuracy', topk=(1,))
test_evaluator = val_evaluator
