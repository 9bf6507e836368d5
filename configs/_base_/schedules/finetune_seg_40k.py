# Fine-tuning schedule for semantic segmentation: AdamW with layer-wise lr decay (driven by the
# backbone's get_layer_depth), linear warm-up then polynomial decay, 40k iterations.
# The paper's appendix with its exact recipe is not available: values are the usual UperNet +
# Swin ones and are meant to be tuned.
# Inherits the runtime so that it can switch its hooks and logs to iterations.
_base_ = ['../default_runtime.py']
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.9),
    clip_grad=dict(max_norm=5.0),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    # no `end`: mmengine ends the decay at train_cfg.max_iters, whatever it is set to
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=4000, max_keep_ckpts=2, save_best='auto'
    ),
)
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(base_batch_size=16, enable=False)
