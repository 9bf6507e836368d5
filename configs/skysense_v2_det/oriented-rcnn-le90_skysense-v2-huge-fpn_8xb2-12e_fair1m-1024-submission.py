# Predictions of the FAIR1M config on the test patches, for the organisers' server:
#   python tools/dataset_converters/fair1m.py FAIR1M_ROOT -o data/FAIR1M_split --folders test
#   python tools/test.py THIS_CONFIG CKPT            (writes work_dirs/fair1m_test_predictions.pkl)
#   python tools/dataset_converters/fair1m_submission.py work_dirs/fair1m_test_predictions.pkl \
#       data/FAIR1M_split/test/patches.json -o work_dirs/fair1m_submission --zip
_base_ = ['./oriented-rcnn-le90_skysense-v2-huge-fpn_8xb2-12e_fair1m-1024.py']
test_dataloader = dict(
    dataset=dict(
        ann_file='', data_prefix=dict(img_path='test/images'), pipeline={{_base_.test_pipeline}}
    )
)
test_evaluator = dict(
    _delete_=True, type='DumpResults', out_file_path='work_dirs/fair1m_test_predictions.pkl'
)
paper_result = None
