# SkySense V2 on AID with training ratio 50% (the test split is the complement of the draw):
#   python tools/dataset_converters/make_image_split.py data/AID \
#       data/aid_splits/aid_tr50_seed0.json --train-ratio 0.5 --seed 0
_base_ = ['./linear_skysense-v2-huge_2xb32-20k_aid-tr20.py']
tr50 = dict(train_ratio=0.5, split_file='data/aid_splits/aid_tr50_seed0.json')
train_dataloader = dict(dataset=tr50)
val_dataloader = dict(dataset=tr50)
test_dataloader = dict(dataset=tr50)
