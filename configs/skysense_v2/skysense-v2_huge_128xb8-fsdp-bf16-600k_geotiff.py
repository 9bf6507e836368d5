# The paper's recipe (skysense-v2_huge_128xb8-bf16-600k_geotiff.py) sharded: FSDP2 with the EMA
# teacher sharded like the student (docs/sharded_pretraining.md). Parameters, gradients and
# optimizer states are split over the GPUs; parameters are gathered and computed in bf16,
# gradients reduced in fp32; activation checkpointing per block (the backbone's with_cp).
# Started as the DDP recipe is:
#   bash tools/dist_train.sh configs/skysense_v2/skysense-v2_huge_128xb8-fsdp-bf16-600k_geotiff.py 8
#   GPUS=128 GPUS_PER_NODE=8 tools/slurm_train.sh PARTITION JOB \
#       configs/skysense_v2/skysense-v2_huge_128xb8-fsdp-bf16-600k_geotiff.py
# Checkpoints are directories of shards (iter_N.pth/); tools/model_converters/sharded_to_full.py
# turns one into a single file for fine-tuning.
_base_ = ['./skysense-v2_huge_128xb8-bf16-600k_geotiff.py']

runner_type = 'FlexibleRunner'
strategy = dict(
    type='mmskysense.FSDP2Strategy',  # FlexibleRunner builds it before setting the scope
    param_dtype='bfloat16',
    reduce_dtype='float32',
    reshard_after_forward=True,
    state_dict_type='sharded',
)
# the strategy's mixed-precision policy computes in bf16: no autocast on top
optim_wrapper = dict(dtype=None)
