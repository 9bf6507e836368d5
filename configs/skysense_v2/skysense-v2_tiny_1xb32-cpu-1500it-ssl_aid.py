# The self-supervised objective (MGCL + QSACL + GCPL, no label) on AID at 1,500 iterations: the
# recipe skysense-v2_tiny_1xb32-cpu-1000it-ssl_aid.py (whose header says what differs from the
# paper's recipe, and why) on a 1.5x longer schedule, the cosine decay following. The schedule at
# which the objective passes issue 24's target (+10 k-NN points over random initialisation) on
# both seeds; this folder's README gives the curves. About 25-30 minutes alone on one CPU core
# (55 minutes with four runs sharing the two cores of the study's machine).
#
#   OMP_NUM_THREADS=1 python tools/train.py \
#       configs/skysense_v2/skysense-v2_tiny_1xb32-cpu-1500it-ssl_aid.py
_base_ = ['./skysense-v2_tiny_1xb32-cpu-1000it-ssl_aid.py']

max_iters = 1500
train_cfg = dict(max_iters=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
