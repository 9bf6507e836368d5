# The pretraining optimiser shared by the SkySense V2 recipes (paper section 4.1: AdamW, cosine
# decay); each recipe sets the wrapper type (bf16 on GPUs), the learning rate and the schedule.
optim_wrapper = dict(
    type='OptimWrapper',
    # fused: one pass over each tensor (torch's default loops over the parameters in Python on
    # a CPU, and foreach makes a pass per operation there: 6 ms against 17 and 37 for the
    # tiny model's 10 M parameters, one core); the same update to float rounding
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05, fused=True),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            # learned tokens, embeddings and attention scales are not decayed
            'prompts.tokens': dict(decay_mult=0.0),
            'logit_scale': dict(decay_mult=0.0),
            'cpb_mlp': dict(decay_mult=0.0),
            'aggregation.queries': dict(decay_mult=0.0),
            'fusion.fusion_token': dict(decay_mult=0.0),
            'fusion.modality_embed': dict(decay_mult=0.0),
        },
    ),
)
