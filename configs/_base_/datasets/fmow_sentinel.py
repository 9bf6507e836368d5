# fMoW-Sentinel temporal classification (62 classes). Official layout: fmow-sentinel/{train,val,
# test_gt}.csv and <split dir>/<cat>/<cat>_<loc>/<cat>_<loc>_<img>.tif (13 bands).
# One sample = one location: its images in time order, num_dates of them (evenly spread when
# there are more; zero-padded with date_mask False when fewer), 10 bands each, at 96 x 96.
dataset_type = 'FMoWSentinelDataset'
data_root = 'data/fmow-sentinel'
num_dates = 6
# 1-based bands of the 13-band files: B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12
s2_bands = [2, 3, 4, 5, 6, 7, 8, 9, 12, 13]
# the model's bands by name (scene inference matches a file's bands to them: band descriptions,
# --band-preset; docs/interfaces.md, Bands by name)
band_names = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12']
meta_keys = (
    'sample_idx',
    'img_path',
    'ori_shape',
    'img_shape',
    'scale_factor',
    'flip',
    'flip_direction',
    'date_mask',
)
train_pipeline = [
    dict(
        type='LoadTimeSeries',
        num_dates=num_dates,
        bands=s2_bands,
        num_bands=10,
        out_size=(96, 96),
        select='even',
    ),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='mmpretrain.PackInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(
        type='LoadTimeSeries',
        num_dates=num_dates,
        bands=s2_bands,
        num_bands=10,
        out_size=(96, 96),
        select='even',
    ),
    dict(type='mmpretrain.PackInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline),
)
test_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline),
)
val_evaluator = dict(type='mmpretrain.Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
