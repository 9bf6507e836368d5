# The tiny CPU recipe without photometric jitter (HR colour / grayscale, S2 and S1 spectral),
# with the online k-NN of the teacher. Why: the generated scenes' land-cover classes differ mainly
# in colour and spectrum, so features made invariant to them score lower on the generated-scene
# k-NN. It does not learn at this size either (figures: this folder's README; the recipe that
# does, and that `make demo` runs, is skysense-v2_tiny_1xb8-cpu-800it-hr-ita_geo-demo.py).
#   OMP_NUM_THREADS=1 python tools/train.py \
#       configs/skysense_v2/skysense-v2_tiny_1xb2-cpu-300it-nojitter_geo-demo.py
_base_ = ['./skysense-v2_tiny_1xb2-cpu-300it_geo-demo.py']

train_pipeline = [
    dict(type='SampleTemporalFrames', num_frames={{_base_.num_frames}}, mode='random'),
    dict(
        type='GeoMultiCrop',
        num_global=2,
        num_local=2,
        global_size={{_base_.global_size}},
        local_size={{_base_.local_size}},
        global_scale=(0.4, 1.0),
        local_scale=(0.1, 0.4),
        scaling=dict(
            hr=dict(scale=1.0), s2=dict(scale=1e-4, offset=0.0), s1=dict(linear_to_db=False)
        ),
    ),
    dict(type='GeoRandomFlipRotate', hflip_prob=0.5, vflip_prob=0.5, rotate=True),
    dict(type='PackSkySenseInputs', modalities={{_base_.modalities}}),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# The teacher's k-NN on held-out scenes every 50 iterations (and before the first), logged as
# knn/top1 in vis_data/scalars.json; tools/analysis_tools/plot_pretrain_curves.py draws it next to
# the loss terms. The scenes: python tools/misc/generate_geo_dataset.py data/geo_demo/knn
# --num-samples 32 --seed 1 (the demo writes them); --hook-options KNNEvalHook.data_root=DIR
# points the hook elsewhere.
knn_data_root = 'data/geo_demo/knn'
custom_hooks = [
    dict(type='TeacherMomentumHook', base_momentum=0.99, end_momentum=1.0),
    dict(type='TeacherTemperatureHook', start=0.04, end=0.07, warmup_iters=50),
    dict(type='KNNEvalHook', data_root=knn_data_root, name='knn', interval=50, crop_size=64),
]
