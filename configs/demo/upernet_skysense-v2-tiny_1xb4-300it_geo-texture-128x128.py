# Fine-tuning of the demo on the texture world (`make demo DEMO_ARGS='--world texture'`): the
# demo's UperNet on generated scenes whose five classes are set by HR structure, their colours
# drawn at random per region (mmskysense.datasets.geo.synthetic, world='texture'). Only the
# classes differ from the colour world's config.
_base_ = ['./upernet_skysense-v2-tiny_1xb4-300it_geo-demo-128x128.py']

class_names = ('crop_rows', 'buildings', 'tree_crowns', 'field_mosaic', 'smooth_surface')
palette = [[220, 190, 60], [200, 60, 60], [40, 120, 40], [150, 200, 90], [150, 150, 150]]
num_classes = len(class_names)
metainfo = dict(classes=class_names, palette=palette)

model = dict(
    decode_head=dict(num_classes=num_classes), auxiliary_head=dict(num_classes=num_classes)
)
_load_seg = dict(type='LoadSegMapFromRaster', num_classes=num_classes)
train_dataloader = dict(
    dataset=dict(
        metainfo=metainfo,
        pipeline=[
            dict(type='LoadMultiBandImage', num_bands=3),
            _load_seg,
            dict(type='mmseg.RandomCrop', crop_size={{_base_.crop_size}}, cat_max_ratio=0.9),
            dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
            dict(type='mmseg.PackSegInputs'),
        ],
    )
)
_test_pipeline = [
    dict(type='LoadMultiBandImage', num_bands=3),
    _load_seg,
    dict(type='mmseg.PackSegInputs'),
]
val_dataloader = dict(dataset=dict(metainfo=metainfo, pipeline=_test_pipeline))
test_dataloader = val_dataloader
