# OSCD urban change detection: 24 Sentinel-2 L1C city pairs (14 train / 10 test cities from the
# release's train.txt / test.txt), 13 bands on the 10 m grid (imgs_{1,2}_rect/B*.tif), labels
# cm/cm.png 0 / 255. The backbone's 10 bands are read (B2-B8, B8A, B11, B12, its s2 order).
# Cities differ in size (a few hundred px a side): training takes random 128 px crops (a city
# smaller than that is padded, label 255); testing slides a 128 px window with stride 64 over
# the whole city (model.test_cfg of the experiment config) and scores every pixel once.
dataset_type = 'OSCDDataset'
# pixel size (m) the model is trained at: tools/infer_large_scene.py checks a scene against it
scene_gsd = 10.0  # the 10 m grid of the release
data_root = 'data/OSCD'
crop_size = (128, 128)
s2_bands = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12']
# the model's bands by name (scene inference matches a file's bands to them: band descriptions,
# --band-preset; docs/interfaces.md, Bands by name)
band_names = s2_bands
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
    'date_exchanged',
    'city',
    'dates',
)
train_pipeline = [
    dict(type='LoadImagePair', num_bands=len(s2_bands)),
    dict(type='LoadBinaryChangeLabel'),
    dict(type='mmseg.RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(
        type='PairPhotometricJitter',
        brightness=0.1,
        contrast=0.1,
        band_gain_std=0.02,
        prob=0.5,
        clip=(0, None),
    ),
    dict(type='RandomDateExchange', prob=0.5),
    dict(type='mmseg.PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImagePair', num_bands=len(s2_bands)),
    dict(type='LoadBinaryChangeLabel'),
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
        bands=s2_bands,
        pipeline=train_pipeline,
    ),
)
# OSCD has no validation split, and choosing a checkpoint on the test cities would be selection
# on the test set: no validation during training, the last checkpoint is tested. Batch 1: the
# cities differ in size.
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, split='test', bands=s2_bands, pipeline=test_pipeline
    ),
)
test_evaluator = dict(type='ChangeDetectionMetric')
