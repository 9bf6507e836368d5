# SkySense V2 on PASTIS-MM, paper Table 3b (b) (i) S2: OA 75.0 (SkySense V2; `aAcc`).
# FCN head on the single Sentinel-2 date closest to `mono_date`, fused by F_fus (pretrained) on the
# S2 stride-4 grid (40 m). Cross-validation fold `cv_fold` of the 5-fold protocol.
_base_ = [
    '../_base_/models/fcn_skysense_v2_mm.py',
    '../_base_/datasets/pastis_mm.py',
    '../_base_/schedules/finetune_seg_40k.py',
]
modalities = ['s2']
mono_date = '2019-07-01'  # the S2 date closest to mid-season (a single date)
model = dict(
    modalities=modalities,
    data_preprocessor={{_base_.data_preprocessor}},
    decode_head=dict(num_classes=19),
)
train_dataloader = dict(dataset=dict(modalities=modalities, mono_date=mono_date))
val_dataloader = dict(dataset=dict(modalities=modalities, mono_date=mono_date))
test_dataloader = dict(dataset=dict(modalities=modalities, mono_date=mono_date))
