# GCPL alone (the other self-supervised terms weighted 0) on AID as a plain image folder: issue
# 24's ablation of skysense-v2_tiny_1xb32-cpu-1000it-ssl_aid.py, whose header says what differs
# from the paper's recipe and why; this folder's README gives its k-NN curve.
#
#   OMP_NUM_THREADS=1 python tools/train.py \
#       configs/skysense_v2/skysense-v2_tiny_1xb32-cpu-1000it-gcpl_aid.py
_base_ = ['./skysense-v2_tiny_1xb32-cpu-1000it-ssl_aid.py']

model = dict(loss_weights=dict(mgcl=0.0, qsacl=0.0, gcpl=1.0))
