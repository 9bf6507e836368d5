# BEN-MM (paper Table 3c): BigEarthNet-S1 v1.0 (`s1`: VV, VH, sigma0 in dB, the pretraining's s1
# scaling) beside BigEarthNet-S2 (`s2`: 10 bands), pairs of the BigEarthNet-MM split files,
# 19 classes (multi-label). Both modalities are read on the 10 m grid (120 px) resampled to
# 128 px, as BEN-S2, so that the stride-4 token grid (32) holds whole attention windows.
dataset_type = 'BigEarthNetMMDataset'
data_root = 'data/BigEarthNet'
img_size = (128, 128)
load_modalities = dict(
    type='LoadMultiModalImages',
    modalities=dict(
        s2=dict(num_bands=10, out_size=img_size),
        s1=dict(num_bands=2, out_size=img_size, sar='db'),
    ),
)
train_pipeline = [
    load_modalities,
    dict(type='MultiModalRandomFlip', prob=0.25),
    dict(type='PackMultiModalInputs', task='cls', meta_keys=('img_path', 's1_path')),
]
test_pipeline = [
    load_modalities,
    dict(type='PackMultiModalInputs', task='cls', meta_keys=('img_path', 's1_path')),
]
dataset = dict(type=dataset_type, data_root=data_root)
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(dataset, split='train', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, split='val', pipeline=test_pipeline),
)
test_dataloader = dict(val_dataloader, dataset=dict(dataset, split='test', pipeline=test_pipeline))
# mAP over the 19 classes (macro average of per-class average precision)
val_evaluator = dict(type='mmpretrain.AveragePrecision')
test_evaluator = val_evaluator
# BigEarthNet-S2 L2A statistics (B2-B8, B8A, B11, B12) and BigEarthNet-S1 dB statistics (VV, VH),
# both from the BigEarthNet-MM tools' BAND_STATS
data_preprocessor = dict(
    type='MultiModalDataPreprocessor',
    mean=dict(
        s2=[429.9, 614.2, 590.2, 950.7, 1792.5, 2075.5, 2218.9, 2266.5, 1594.4, 1009.3],
        s1=[-12.620, -19.290],
    ),
    std=dict(
        s2=[572.4, 582.9, 675.9, 729.9, 1096.0, 1273.5, 1365.5, 1356.1, 1079.2, 818.9],
        s1=[5.116, 5.464],
    ),
)
# what the model takes of a scene (tools/infer_large_scene.py; docs/interfaces.md, Multi-modal
# scenes): the bands of training on the 10 m grid; a config's `modalities` picks its row, the
# first is the reference (the output grid) and another left out is masked, as in training
scene_inputs = dict(
    s2=dict(  # L2A, reflectance x 1e4
        bands=list(range(1, 11)),
        band_names=['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12'],
    ),
    s1=dict(bands=[1, 2], band_names=['VV', 'VH']),  # in dB
)
