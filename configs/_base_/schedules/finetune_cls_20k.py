# Fine-tuning schedule for scene classification: AdamW with layer-wise lr decay (driven by the
# backbone's get_layer_depth), linear warm-up then cosine decay, 20k iterations.
# The paper's appendix with its exact fine-tuning recipe is not available: values are the usual
# ones for Swin-style backbones and are meant to be tuned.
# Inherits the runtime so that it can switch its hooks and logs to iterations.
_base_ = ['../default_runtime.py']
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.9),
    clip_grad=dict(max_norm=5.0),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    # no `end`: mmengine ends the decay at train_cfg.max_iters, whatever it is set to
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=1000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20000, val_interval=2000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=2000, max_keep_ckpts=2, save_best='auto'
    ),
)
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(base_batch_size=64, enable=False)
