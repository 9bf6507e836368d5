# SkySense V2 semantic change detection on Dyna.-S2 (paper Table 2c: SCS 16.0 val / 20.7 test):
# the Dyna.-S2 segmentation model (UperNet on the Sentinel-2 monthly series, 256 px grid) predicts
# every labelled month of every cube, and SCSMetric scores the changes between consecutive
# months as DynamicEarthNet's official evaluator does (BC, SC, SCS = (BC + SC) / 2, 6 classes,
# ignore 255). The metric groups the predictions by cube and sorts each cube's months itself
# (cube and month from the label file name, "<cube>-YYYY_MM_01.tif"); the official evaluator
# expects the 24 months of every cube (months_per_cube). Val / test: --cfg-options
# test_dataloader.dataset.split=test (as the segmentation config).
# Grid: the score is taken on the model's 256 px grid (labels nearest-resampled from the 1024 px
# Planet-grid labels by LoadOneHotLabel), where the official evaluator reads 1024 px maps.
_base_ = ['../skysense_v2_seg/upernet_skysense-v2-huge_4xb4-40k_dyna-s2-256x256.py']
scs_metric = dict(
    _delete_=True, type='SCSMetric', num_classes=6, ignore_index=255, months_per_cube=24
)
val_evaluator = scs_metric
test_evaluator = scs_metric
default_hooks = dict(checkpoint=dict(save_best='SCS', rule='greater'))
