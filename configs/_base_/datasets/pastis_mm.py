# PASTIS-MM (paper Table 3b): PASTIS-R's Sentinel-2 (`s2`) and Sentinel-1 (`s1`, ascending,
# VV, VH in dB) series of 128 x 128 patches at 10 m, plus user-supplied HR GeoTIFFs (`hr`, the
# paper's Google Earth Pro images are not distributed: docs/multimodal.md). 5-fold protocol
# (cv_fold: train on 3 folds, val on the next, test on the one after); void ignored; 19 classes.
# The series are standardised by the loader with the release's NORM_*_patch.json (training
# folds), as the authors' loader does; HR (8-bit RGB) by the data preprocessor.
dataset_type = 'PASTISDataset'
data_root = 'data/PASTIS-R'
hr_root = 'data/PASTIS-HR'  # <hr_root>/<ID_PATCH>.tif, covering the patch
cv_fold = 1
num_s2_dates = 16  # of 38-61, evenly spread over the season
num_s1_dates = 16
hr_size = (1024, 1024)  # 1.25 m: its stage-4 grid is the S2 stride-4 grid (32 x 32)
load_modalities = dict(
    type='LoadMultiModalImages',
    modalities=dict(
        s2=dict(bands=list(range(1, 11)), num_bands=10, num_dates=num_s2_dates),
        s1=dict(bands=[1, 2], num_bands=2, num_dates=num_s1_dates, sar='db'),
        hr=dict(bands=[1, 2, 3], num_bands=3, out_size=hr_size),
    ),
)
meta_keys = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'id_patch')
train_pipeline = [
    dict(type='LoadPASTISTarget'),
    load_modalities,
    dict(type='MultiModalRandomFlip', prob=0.5),
    dict(type='PackMultiModalInputs', task='seg', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadPASTISTarget'),
    load_modalities,
    dict(type='PackMultiModalInputs', task='seg', meta_keys=meta_keys),
]
dataset = dict(type=dataset_type, data_root=data_root, hr_root=hr_root, fold=cv_fold)
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(dataset, split='train', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, split='val', pipeline=test_pipeline),
)
test_dataloader = dict(val_dataloader, dataset=dict(dataset, split='test', pipeline=test_pipeline))
# overall accuracy is the paper's metric: `aAcc`; mIoU alongside
val_evaluator = dict(type='mmseg.IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
data_preprocessor = dict(
    type='MultiModalDataPreprocessor',
    mean=dict(hr=[123.675, 116.28, 103.53]),
    std=dict(hr=[58.395, 57.12, 57.375]),
)
# what the model takes of a scene (tools/infer_large_scene.py; docs/interfaces.md, Multi-modal
# scenes): the bands and dates of training, the series standardised with the release's statistics
# of the training folds (as the loader does), HR at 1024 px of the 128 px S2 grid; a config's
# `modalities` picks its row, the first is the reference (the output grid) and another left out is
# masked, as in training
norm_folds = [(cv_fold + k - 1) % 5 + 1 for k in range(3)]  # the training folds of cv_fold
scene_inputs = dict(
    s2=dict(bands=list(range(1, 11)), num_dates=num_s2_dates,
            norm=dict(file=data_root + '/NORM_S2_patch.json', folds=norm_folds)),
    s1=dict(bands=[1, 2], num_dates=num_s1_dates,
            norm=dict(file=data_root + '/NORM_S1A_patch.json', folds=norm_folds)),
    hr=dict(bands=[1, 2, 3], band_names=['R', 'G', 'B'], scale=hr_size[0] / 128),
)  # fmt: skip
