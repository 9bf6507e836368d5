# SkySense V2 pretraining, the tiny CPU recipe that learns (issue 11; `make demo` runs it): the
# tiny model of skysense-v2_tiny_1xb2-cpu-300it_geo-demo.py with HR views at their native ground
# sampling, the ITA term alone on HR features, lr 2e-4, batch 8, 800 iterations (200 s alone on
# 2 cores with OMP_NUM_THREADS=1, as in `make demo`).
#
# What differs from the paper's recipe (skysense-v2_huge_128xb8-bf16-600k_geotiff.py), beyond the
# tiny recipe's sizes and schedules, and why (the figures: this folder's README, "The tiny recipe
# that learns"):
# - Only ITA trains (MGCL, QSACL, GCPL weighted 0) and HR is the only modality in the batch and in
#   F_fus: at this size the other terms' teacher targets are near uniform and, added to ITA, halve
#   its gain; with S2 and S1 in F_fus ITA can read a region's class from its spectra.
# - lr 2e-4 (the paper's peak): the tiny recipe's 5e-4 leaves the tiny backbone unable to learn.
# - Views of 64 px / 32 px at native sampling, the sampling of the k-NN tiles and fine-tuning
#   crops; the tiny recipe's shrink crops move the texture's periods onto one another.
#
#   OMP_NUM_THREADS=1 python tools/train.py \
#       configs/skysense_v2/skysense-v2_tiny_1xb8-cpu-800it-hr-ita_geo-demo.py
_base_ = ['./skysense-v2_tiny_1xb2-cpu-300it_geo-demo.py']

modalities = ('hr',)
# the k-NN tiles are 64 px at the data's own ground sampling; the views are cut at that scale
# (area fraction (64 / 256)^2 and (32 / 256)^2 of a 256 px sample), not shrunk 2.5-4x
global_scale = (64 / 256) ** 2
local_scale = (32 / 256) ** 2

model = dict(
    fusion=dict(modalities=modalities),
    mgcl_head=dict(modalities=modalities),
    loss_weights=dict(mgcl=0.0, qsacl=0.0, gcpl=0.0, ita=1.0, moe=0.01),
)

train_pipeline = [
    dict(type='SampleTemporalFrames', num_frames={{_base_.num_frames}}, mode='random'),
    dict(
        type='GeoMultiCrop',
        modalities=modalities,  # S2 and S1 are not opened
        num_global=2,
        num_local=2,
        global_size={{_base_.global_size}},
        local_size={{_base_.local_size}},
        global_scale=(global_scale, global_scale),
        local_scale=(local_scale, local_scale),
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
    dict(type='PackSkySenseInputs', modalities=modalities),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(optimizer=dict(lr=2e-4))
max_iters = 800
train_cfg = dict(max_iters=max_iters)

# The teacher's k-NN on held-out scenes every 100 iterations (and before the first), logged as
# knn/top1 in vis_data/scalars.json. The scenes: python tools/misc/generate_geo_dataset.py
# data/geo_demo/knn --num-samples 32 --seed 1 (the demo writes them);
# --hook-options KNNEvalHook.data_root=DIR points the hook elsewhere.
knn_data_root = 'data/geo_demo/knn'
custom_hooks = [
    dict(type='TeacherMomentumHook', base_momentum=0.99, end_momentum=1.0),
    dict(type='TeacherTemperatureHook', start=0.04, end=0.07, warmup_iters=50),
    dict(type='KNNEvalHook', data_root=knn_data_root, name='knn', interval=100, crop_size=64),
]
default_hooks = dict(checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
