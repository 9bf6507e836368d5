"""Each detection config: build it, one training iteration and a test pass with the mAP on
generated data laid out as the release, with the tiny SkySenseV2SingleModal; the FAIR1M test
patches through the submission config and tool; tools/test.py's line with the paper's figure."""

import importlib.util
import math
import os.path as osp
from pathlib import Path

import pytest
import torch

_spec = importlib.util.spec_from_file_location('det_tiny', Path(__file__).with_name('det_tiny.py'))
det_tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(det_tiny)


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny models gain nothing from intra-op threads on a shared machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize('name', sorted(det_tiny.CONFIGS))
def test_config_trains_and_tests(name, tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmskysense.models.backbones import SkySenseV2SingleModal
    from mmskysense.utils import register_all_modules

    register_all_modules()

    full = Config.fromfile(str(det_tiny.ROOT / det_tiny.CONFIGS[name]))
    backbone = full.model.backbone  # inherited from the _base_ model, single-modal hr
    assert backbone.type == 'SkySenseV2SingleModal'
    assert backbone.modality == 'hr' and backbone.arch == 'huge'
    assert full.optim_wrapper.constructor == 'LayerDecayOptimWrapperConstructor'
    assert full.paper_result['metric'] == det_tiny.METRICS[name]

    data_root = det_tiny.make_data(name, str(tmp_path / 'data'))
    cfg = det_tiny.tiny_config(name, data_root, str(tmp_path / 'work'))
    runner = Runner.from_cfg(cfg)
    assert isinstance(runner.model.backbone, SkySenseV2SingleModal)
    assert list(runner.model.backbone.tokenizers) == ['hr']
    assert runner.model.backbone.embed_dims == 32  # the tiny preset, not a stand-in
    runner.train()
    assert math.isfinite(runner.message_hub.get_scalar('train/loss').current())
    # layer-wise decay: the tokenizer learns slowest, the detection heads at the base rate
    lrs = {g['lr'] for g in runner.optim_wrapper.optimizer.param_groups}
    assert len(lrs) > 3 and min(lrs) < 0.5 * max(lrs)
    metrics = runner.test()
    key = det_tiny.METRICS[name]
    assert key in metrics, f'{name}: {key} not in {sorted(metrics)}'
    assert 0.0 <= metrics[key] <= 1.0
    per_class = [k for k in metrics if k.startswith(key.replace('mAP', 'AP50/'))]
    assert per_class, sorted(metrics)


def test_fair1m_submission_config_and_tool(tmp_path):
    from mmengine.fileio import load
    from mmengine.runner import Runner

    from mmskysense.datasets.downstream.fair1m import read_fair1m_xml
    from mmskysense.utils import register_all_modules

    register_all_modules()
    data_root = det_tiny.make_data('fair1m', str(tmp_path / 'data'))
    cfg = det_tiny.tiny_config(
        'fair1m', data_root, str(tmp_path / 'work'), path=det_tiny.SUBMISSION_CONFIG
    )
    preds = str(tmp_path / 'preds.pkl')
    cfg.test_evaluator.out_file_path = preds
    # random weights: keep what they find, from few proposals (rotated NMS is quadratic)
    cfg.model.test_cfg.rpn.max_per_img = 20
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    cfg.model.test_cfg.rcnn.max_per_img = 5
    runner = Runner.from_cfg(cfg)
    runner.test()
    results = load(preds)
    patches = osp.join(data_root, 'test', 'patches.json')
    ((image_id, info),) = load(patches)['images'].items()
    assert sorted(r['img_id'] for r in results) == sorted(p[0] for p in info['patches'])
    out = str(tmp_path / 'submission')
    counts = det_tiny.load_converter('fair1m_submission').make_submission(results, patches, out)
    back = read_fair1m_xml(osp.join(out, f'{image_id}.xml'))
    assert back['filename'] == info['file'] and len(back['points']) == counts[image_id] > 0
    assert all(p.shape == (4, 2) for p in back['points'])
    assert all(0.0 <= s <= 1.0 for s in back['scores'])


def test_tools_test_prints_the_papers_figure(capsys):
    spec = importlib.util.spec_from_file_location('tools_test', det_tiny.ROOT / 'tools/test.py')
    tools_test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tools_test)
    paper = dict(metric='pascal_voc/mAP', value=0.795, source='Table 2b (DIOR)')
    tools_test.print_paper_result(paper, {'pascal_voc/mAP': 0.61234, 'pascal_voc/AP50': 0.612})
    assert capsys.readouterr().out == (
        'paper (Table 2b (DIOR)): pascal_voc/mAP = 0.7950; this run: 0.6123\n'
    )
    tools_test.print_paper_result(None, {})
    assert capsys.readouterr().out == ''
