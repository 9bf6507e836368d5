"""A scene classifier's map through tools/infer_large_scene.py: a grid of its training windows
(the test pipeline's resize), one class per window; a multi-label classifier's map is
sigmoid(logits) per class and the thresholded label set, not an arg-max."""

import numpy as np
import pytest
import rasterio
import torch
from helpers.modules import REPO, load_module
from torch import nn

from mmskysense.apis.scene import ClassifierAdapter, is_multi_label

toys = load_module('scene_toys', REPO / 'tests/test_apis/scene_toys.py')
cli = load_module('infer_large_scene', REPO / 'tools' / 'infer_large_scene.py')

WINDOW = 32
CLASSES = ['a', 'b', 'c', 'd']


class _Stack(nn.Module):
    def forward(self, data, training=False):
        return dict(inputs=torch.stack(data['inputs']).float(), data_samples=data['data_samples'])


class ToyClassifier(nn.Module):
    """Known logits per window: ``mean(band 1) / 64 - k`` for class ``k`` (multi-label), or
    ``-(mean(band 1) / 64 - k)^2`` (single-label: the class nearest mean / 64 wins)."""

    def __init__(self, multi_label):
        super().__init__()
        self.data_preprocessor = _Stack()
        self.head = nn.Identity()
        self.head.multi_label = multi_label
        self.multi_label = multi_label

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return logits_of(inputs[:, 0].mean((1, 2)), self.multi_label)


def logits_of(mean, multi_label):
    z = mean[:, None] / 64 - torch.arange(len(CLASSES), dtype=torch.float32)
    return z if multi_label else -(z**2)


def _config(path, multi_label):
    head = 'mmpretrain.MultiLabelLinearClsHead' if multi_label else 'mmpretrain.LinearClsHead'
    path.write_text(
        f"model = dict(type='ToyClassifier', head=dict(type='{head}'))\n"
        "scene_inputs = [dict(name='img', bands=[1, 2, 3])]\n"
        'test_dataloader = dict(dataset=dict(pipeline=[dict(type="LoadImageFromFile"), '
        f'dict(type="Resize", scale=({WINDOW}, {WINDOW}))]))\n'
    )
    return str(path)


def _scene(path):
    rng = np.random.default_rng(0)
    data = rng.integers(1, 255, (3, 2 * WINDOW, 3 * WINDOW), dtype=np.uint8)
    data[0] = (
        (rng.integers(0, 4, (2, 3)) * 64 + 20).astype(np.uint8).repeat(WINDOW, 0).repeat(WINDOW, 1)
    )  # band 1: one level per window
    data[:, :8, :8] = 0  # no data
    return toys.write_raster(path, data, 0.5, nodata=0), data


def _run(tmp_path, multi_label, *options):
    scene, data = _scene(tmp_path / 'scene.tif')
    cfg = _config(tmp_path / 'toy_cls.py', multi_label)
    out = tmp_path / 'map.tif'

    def load_model(cfg, checkpoint, device):
        return ToyClassifier(multi_label), dict(classes=CLASSES)

    cli.main([cfg, 'none.pth', scene, str(out), '--no-preview', '--quiet', *options],
             load_model=load_model)  # fmt: skip
    return out, data


def _window_means(data):
    b1 = data[0].astype(np.float64)
    return b1.reshape(2, WINDOW, 3, WINDOW).mean((1, 3))  # the values handed to the model


def test_multi_label_map_is_sigmoid_of_the_logits_per_band(tmp_path):
    out, data = _run(tmp_path, True, '--threshold', '0.6')
    k = len(CLASSES)
    with rasterio.open(out) as dst:
        assert dst.count == 2 * k and dst.dtypes[0] == 'float32'
        assert dst.descriptions[0] == 'p_a' and dst.descriptions[k] == 'label_a'
        assert dst.tags()['THRESHOLD'] == '0.6'
        bands = dst.read()
    means = torch.from_numpy(_window_means(data).reshape(-1)).float()
    want = torch.sigmoid(logits_of(means, True)).numpy().reshape(2, 3, k).transpose(2, 0, 1)
    want = want.repeat(WINDOW, 1).repeat(WINDOW, 2)
    hole = np.zeros(want.shape[1:], dtype=bool)
    hole[:8, :8] = True
    assert np.isnan(bands[:, hole]).all()
    np.testing.assert_array_equal(bands[:k, ~hole], want[:, ~hole])
    np.testing.assert_array_equal(bands[k:, ~hole], (want[:, ~hole] >= 0.6).astype(np.float32))


def test_single_label_map_cells_are_the_training_windows(tmp_path):
    out, data = _run(tmp_path, False)
    with rasterio.open(out) as dst:
        assert dst.count == 1
        classes = dst.read(1)
    means = torch.from_numpy(_window_means(data).reshape(-1)).float()
    want = logits_of(means, False).argmax(1).numpy().reshape(2, 3)
    want = want.repeat(WINDOW, 0).repeat(WINDOW, 1)
    assert (classes[:8, :8] == 255).all()
    valid = classes != 255
    np.testing.assert_array_equal(classes[valid], want[valid])
    assert len(np.unique(want)) > 1  # the windows differ


def test_is_multi_label_from_the_config_or_the_model():
    assert is_multi_label(dict(head=dict(type='mmpretrain.MultiLabelLinearClsHead')))
    assert not is_multi_label(dict(head=dict(type='mmpretrain.LinearClsHead')))
    assert ClassifierAdapter(ToyClassifier(True)).multi_label
    from mmengine.registry import DefaultScope
    from mmpretrain.models.heads import MultiLabelLinearClsHead

    model = ToyClassifier(False)
    # the head builds its loss from the default scope, which an earlier test may have set
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model.head = MultiLabelLinearClsHead(num_classes=4, in_channels=8)
    assert is_multi_label(model)


def test_vector_refused_for_a_multi_label_map(tmp_path):
    with pytest.raises(SystemExit, match='--vector'):
        _run(tmp_path, True, '--vector', str(tmp_path / 'p.gpkg'))
