# Fine-tuning schedule for detection: the usual "1x" schedule of mmdet / mmrotate (12 epochs,
# learning rate x0.1 after epochs 8 and 11, linear warm-up over 500 iterations) with the AdamW +
# layer-wise lr decay recipe of transformer backbones (Swin / ViT detection configs: lr 1e-4,
# weight decay 0.05), at 16 images per iteration (8 GPUs x 2).
# The paper's appendix with its exact recipe is not available: values are meant to be tuned.
_base_ = ['../default_runtime.py']
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.9),
    # mmrotate's Oriented R-CNN recipe clips at 35; harmless for Faster R-CNN
    clip_grad=dict(max_norm=35, norm_type=2),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
# DIOR and DIOR-R have no validation split apart from the training data (train + val are both
# trained on), so the "validation" is the test split: evaluate once, at the end, and never
# pick a checkpoint by it.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=12)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
auto_scale_lr = dict(base_batch_size=16, enable=False)
