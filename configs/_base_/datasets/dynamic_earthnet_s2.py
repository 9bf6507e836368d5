# Dyna.-S2: DynamicEarthNet monthly labels from the Sentinel-2 monthly series ending at the
# labelled month (num_dates months, missing ones padded with date_mask False). Dates are stacked
# as channels (T x 10) for the data pipeline; TemporalEncoderDecoder folds them back. Images and
# labels are resampled to 256 px (~12 m), close to S2's native 10 m over a 3 km cube.
dataset_type = 'DynamicEarthNetDataset'
data_root = 'data/DynamicEarthNet'
num_dates = 6
img_size = (256, 256)
# 1-based bands of the 12-band L2A files (B1-B9, B8A after B8, B11, B12): B2-B8, B8A, B11, B12
s2_bands = [2, 3, 4, 5, 6, 7, 8, 9, 11, 12]
# the model's bands by name (scene inference matches a file's bands to them: band descriptions,
# --band-preset; docs/interfaces.md, Bands by name)
band_names = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12']
meta_keys = (
    'img_path',
    'seg_map_path',
    'ori_shape',
    'img_shape',
    'pad_shape',
    'scale_factor',
    'flip',
    'flip_direction',
    'reduce_zero_label',
    'date_mask',
)
train_pipeline = [
    dict(
        type='LoadTimeSeries',
        num_dates=num_dates,
        bands=s2_bands,
        num_bands=10,
        out_size=img_size,
        select='last',
    ),
    dict(type='LoadOneHotLabel', num_classes=7, ignore_classes=(6,), out_size=img_size),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='mmseg.PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(
        type='LoadTimeSeries',
        num_dates=num_dates,
        bands=s2_bands,
        num_bands=10,
        out_size=img_size,
        select='last',
    ),
    dict(type='LoadOneHotLabel', num_classes=7, ignore_classes=(6,), out_size=img_size),
    dict(type='mmseg.PackSegInputs', meta_keys=meta_keys),
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
        modality='s2',
        num_months=num_dates,
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
        modality='s2',
        num_months=num_dates,
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
        modality='s2',
        num_months=num_dates,
        pipeline=test_pipeline,
    ),
)
val_evaluator = dict(type='mmseg.IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
