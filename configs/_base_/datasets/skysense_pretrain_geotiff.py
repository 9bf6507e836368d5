# SkySense V2 pretraining data: geo-aligned HR RGB + Sentinel-2 + Sentinel-1 GeoTIFF samples
# (paper 4.1; sample format in docs/data_format.md, output in docs/interfaces.md).
# Demo data: python tools/misc/generate_geo_dataset.py data/geo_demo --num-samples 8

data_root = 'data/geo_demo/'
ann_file = 'index.json'  # built by tools/dataset_converters/build_geo_index.py

# K of T dates per iteration (paper: 10 S2, 5 S1); padded with a date mask when T < K
num_frames = dict(s2=10, s1=5)
# view sizes: MS/SAR views are HR // 8 so their stride-4 grid equals the HR stride-32 grid
global_size = dict(hr=224, s2=28, s1=28)
local_size = dict(hr=96, s2=12, s1=12)

train_pipeline = [
    dict(type='SampleTemporalFrames', num_frames=num_frames, mode='random'),
    dict(
        type='GeoMultiCrop',
        num_global=2,
        num_local=6,
        global_size=global_size,
        local_size=local_size,
        global_scale=(0.4, 1.0),
        local_scale=(0.05, 0.4),
        ratio=(3 / 4, 4 / 3),
        # stored numbers -> physical units: S2 DN / 10000 = reflectance, S1 already in dB
        scaling=dict(
            hr=dict(scale=1.0), s2=dict(scale=1e-4, offset=0.0), s1=dict(linear_to_db=False)
        ),
        # windowed reads; HR views shrunk 2x or more come from the GeoTIFF's overviews when it
        # has them; each S2/S1 frame is read once over the union of the views
        read_mode=dict(hr='window', s2='window', s1='window', osm='window'),
        use_overviews=True,
        prefetch_series=True,
        # a view with no valid pixel in some modality is redrawn up to this many times
        max_crop_tries=10,
    ),
    # the same flip / quarter turn for every modality of a view, recorded in view_geo_ops
    dict(type='GeoRandomFlipRotate', hflip_prob=0.5, vflip_prob=0.5, rotate=True),
    # photometric augmentations are drawn per modality
    dict(
        type='RandomHRColorJitter',
        brightness=0.4,
        contrast=0.4,
        saturation=0.2,
        prob=0.8,
        grayscale_prob=0.2,
    ),
    dict(
        type='RandomSpectralJitter',
        modality='s2',
        gain_std=0.05,
        bias_std=0.005,
        noise_std=0.002,
        prob=0.8,
        clip=(0.0, 2.0),
    ),
    dict(
        type='RandomSpectralJitter',
        modality='s1',
        gain_std=0.0,
        bias_std=0.5,
        noise_std=0.3,
        prob=0.8,
    ),
    dict(type='PackSkySenseInputs', modalities=('hr', 's2', 's1')),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='GeoMultiModalDataset',
        data_root=data_root,
        ann_file=ann_file,
        # 'skip': log and count bad samples and load another one instead of stopping
        on_bad_sample='raise',
        pipeline=train_pipeline,
    ),
)

# goes into the model config: model = dict(..., data_preprocessor=data_preprocessor)
data_preprocessor = dict(
    type='SkySenseDataPreprocessor',
    mean=dict(
        hr=[123.675, 116.28, 103.53],
        s2=[0.0582, 0.0853, 0.0827, 0.1232, 0.2219, 0.2593, 0.2743, 0.2868, 0.2255, 0.1467],
        s1=[-12.5, -20.0],
    ),
    std=dict(
        hr=[58.395, 57.12, 57.375],
        s2=[0.0341, 0.0382, 0.0523, 0.0527, 0.0695, 0.0815, 0.0856, 0.0882, 0.0924, 0.0853],
        s1=[5.0, 5.5],
    ),
)
