# The tiny fine-tune on AID (TR 20 %) of linear_skysense-v2-tiny_1xb32-cpu-600it_aid-tr20.py (same
# schedule, split and inputs), started from the teacher backbone of the tiny self-supervised
# recipe configs/skysense_v2/skysense-v2_tiny_1xb32-cpu-1500it-ssl_aid.py instead of random
# initialisation. That recipe pretrains (no labels) on the pretraining half of AID's study split
# (data/aid_split.json), which overlaps this test split: a check of the pipeline, not a transfer
# figure.
#
#   python tools/model_converters/extract_teacher_backbone.py \
#       work_dirs/skysense-v2_tiny_1xb32-cpu-1500it-ssl_aid/iter_1500.pth \
#       work_dirs/skysense-v2_tiny_1xb32-cpu-1500it-ssl_aid/teacher_backbone.pth
#   OMP_NUM_THREADS=1 python tools/train.py \
#       configs/skysense_v2_cls/linear_skysense-v2-tiny_1xb32-cpu-600it_aid-tr20-ssl1500.py
_base_ = ['./linear_skysense-v2-tiny_1xb32-cpu-600it_aid-tr20.py']

pretrained = 'work_dirs/skysense-v2_tiny_1xb32-cpu-1500it-ssl_aid/teacher_backbone.pth'
model = dict(backbone=dict(init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=pretrained)))
