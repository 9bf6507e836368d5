# Dyna.-MM (paper Table 3a): DynamicEarthNet's monthly labels from the Planet image of the
# labelled month (`hr`, through the HR branch, 3 m), and the monthly Sentinel-2 (`s2`) and
# Sentinel-1 (`s1`, VV, VH in dB) series of the num_months months ending at it. Each config sets
# `modalities` (a row of the table) on the dataset and the model. Grids: Planet 1024 px (the
# label's); Sentinel series resampled to 256 px (~12 m, the Dyna.-S2 grid), a whole quarter of the
# Planet grid, so that crops cut the same ground from every modality (docs/multimodal.md).
dataset_type = 'DynamicEarthNetMMDataset'
data_root = 'data/DynamicEarthNet'
num_months = 6
planet_size = (1024, 1024)
sentinel_size = (256, 256)
crop_size = (512, 512)  # on the label (Planet) grid
# 1-based bands of the 12-band L2A files (B1-B9, B8A after B8, B11, B12): B2-B8, B8A, B11, B12
s2_bands = [2, 3, 4, 5, 6, 7, 8, 9, 11, 12]
load_modalities = dict(
    type='LoadMultiModalImages',
    modalities=dict(
        hr=dict(bands=[3, 2, 1], num_bands=3, out_size=planet_size),  # R, G, B of B, G, R, NIR
        s2=dict(bands=s2_bands, num_bands=10, out_size=sentinel_size, num_dates=num_months,
                select='last'),
        s1=dict(bands=[1, 2], num_bands=2, out_size=sentinel_size, num_dates=num_months,
                select='last', sar='db'),
    ),
)  # fmt: skip
meta_keys = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'year_month', 'cube')
train_pipeline = [
    dict(type='LoadOneHotLabel', num_classes=7, ignore_classes=(6,)),
    load_modalities,
    dict(type='MultiModalRandomCrop', crop_size=crop_size),
    dict(type='MultiModalRandomFlip', prob=0.25),
    dict(type='PackMultiModalInputs', task='seg', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadOneHotLabel', num_classes=7, ignore_classes=(6,)),
    load_modalities,
    dict(type='PackMultiModalInputs', task='seg', meta_keys=meta_keys),
]
dataset = dict(type=dataset_type, data_root=data_root, num_months=num_months)
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(dataset, split='train', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, split='val', pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='mmseg.IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
# per-band statistics: Planet R, G, B as the dataset authors publish them (aysim/dynnet),
# Sentinel-2 L2A (x 1e4) as in the BEN-S2 / Dyna.-S2 configs, Sentinel-1 dB as in pretraining
data_preprocessor = dict(
    type='MultiModalDataPreprocessor',
    mean=dict(
        hr=[1042.59240722656, 915.618408203125, 671.260559082031],
        s2=[429.9, 614.2, 590.2, 950.7, 1792.5, 2075.5, 2218.9, 2266.5, 1594.4, 1009.3],
        s1=[-12.5, -20.0],
    ),
    std=dict(
        hr=[957.958435058593, 715.548767089843, 596.943908691406],
        s2=[572.4, 582.9, 675.9, 729.9, 1096.0, 1273.5, 1365.5, 1356.1, 1079.2, 818.9],
        s1=[5.0, 5.5],
    ),
)
# what the model takes of a scene (tools/infer_large_scene.py; docs/interfaces.md, Multi-modal
# scenes): the bands and dates of training, the Sentinel series read at a quarter of the Planet
# grid (its 256 px of 1024); a config's `modalities` picks its row, the first is the reference
# (the output grid) and another left out is masked, as in training
sentinel_scale = sentinel_size[0] / planet_size[0]
scene_inputs = dict(
    hr=dict(bands=[3, 2, 1], band_names=['R', 'G', 'B']),  # of Planet's B, G, R, NIR
    s2=dict(
        bands=s2_bands,
        band_names=['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12'],
        num_dates=num_months,
        select='last',
        scale=sentinel_scale,
    ),
    s1=dict(
        bands=[1, 2],
        band_names=['VV', 'VH'],
        num_dates=num_months,
        select='last',
        scale=sentinel_scale,
    ),  # dB
)
