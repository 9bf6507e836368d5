# SkySense V2 pretraining, a tiny recipe that trains on CPU in minutes (the `tiny` backbone,
# small views, 2 global + 2 local crops, 3 S2 / 2 S1 dates, batch 2). Same algorithm and
# losses as the paper recipe (skysense-v2_huge_128xb8-bf16-600k_geotiff.py); what differs, and
# why: sizes to fit a CPU (head outputs 256/256/512 and 512 instead of 8192/8192/65536 and
# 65536, 2 objects, 4 queries, 8 GCPL prototypes instead of 100, 64 px HR views); batch 2
# instead of 1024; lr 5e-4 with a 20-iteration warm-up instead of 2e-4 over 10k; teacher momentum
# from 0.99 (not 0.996) and the temperature warm-up over 50 iterations (not 30k), so that the
# schedules run their course in 300 iterations.
# It keeps the paper's objective (all four terms, every modality, crop scales near the paper's) and
# does not learn at this size (this folder's README); the tiny recipe that learns is
# skysense-v2_tiny_1xb8-cpu-800it-hr-ita_geo-demo.py.
#   python tools/misc/generate_geo_dataset.py data/geo_demo --num-samples 8
#   python tools/misc/gen_text_embeddings.py data/osm_text_embeddings_random.pth --backend random
#   OMP_NUM_THREADS=1 python tools/train.py \
#       configs/skysense_v2/skysense-v2_tiny_1xb2-cpu-300it_geo-demo.py \
#       --work-dir work_dirs/skysense_v2_tiny
# (OMP_NUM_THREADS=1: on a busy 2-core machine, torch's thread pool next to the data worker
# oversubscribes the cores; measured 1.5 s/iteration with it against 11-23 s without.)
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/skysense_pretrain_geotiff.py',
    '../_base_/schedules/pretrain_adamw.py',
    '../_base_/models/skysense_v2_pretrain.py',
]

data_root = 'data/geo_demo/'
# a file of random unit vectors is enough to exercise ITA; use a text encoder for real runs
text_embeddings = 'data/osm_text_embeddings_random.pth'
num_frames = dict(s2=3, s1=2)
global_size = dict(hr=64, s2=8, s1=8)
local_size = dict(hr=32, s2=4, s1=4)

fused_dims = 64  # F_fus; the backbone's arch gives the other widths
modalities = ('hr', 's2', 's1')
projector = dict(type='DINOHead', hidden_dims=128, bottleneck_dims=32)

# the paper's model (the base) at the tiny size; its algorithm and losses are unchanged
model = dict(
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(arch='tiny', drop_path_rate=0.0),
    fusion=dict(embed_dims=fused_dims, num_layers=1, num_heads=4),
    mgcl_head=dict(
        out_dims=dict(pixel=256, object=256, image=512), projector=projector, num_objects=2
    ),
    qsacl_head=dict(
        out_dims=512,
        aggregation=dict(num_queries=4, num_heads=4),
        projector=projector,
    ),
    gcpl_head=dict(dims=32, loss=dict(num_prototypes=8, momentum=0.9)),
    ita_head=dict(loss=dict(text_embeddings=text_embeddings)),
    base_momentum=0.99,
)

train_pipeline = [
    dict(type='SampleTemporalFrames', num_frames=num_frames, mode='random'),
    dict(
        type='GeoMultiCrop',
        num_global=2,
        num_local=2,
        global_size=global_size,
        local_size=local_size,
        global_scale=(0.4, 1.0),
        local_scale=(0.1, 0.4),
        scaling=dict(
            hr=dict(scale=1.0), s2=dict(scale=1e-4, offset=0.0), s1=dict(linear_to_db=False)
        ),
    ),
    dict(type='GeoRandomFlipRotate', hflip_prob=0.5, vflip_prob=0.5, rotate=True),
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
    dict(type='PackSkySenseInputs', modalities=modalities),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, pipeline=train_pipeline),
)

optim_wrapper = dict(
    type='OptimWrapper',  # AmpOptimWrapper needs a GPU
    optimizer=dict(lr=5e-4),
)

max_iters = 300
warmup_iters = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    # no `end` / `T_max`: mmengine ends the decay at train_cfg.max_iters, whatever it is set to
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=warmup_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)

custom_hooks = [
    dict(type='TeacherMomentumHook', base_momentum=0.99, end_momentum=1.0),
    dict(type='TeacherTemperatureHook', start=0.04, end=0.07, warmup_iters=50),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=4),
)
log_processor = dict(by_epoch=False, window_size=1)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
