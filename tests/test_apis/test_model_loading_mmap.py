"""``init_model`` builds without weights and takes the checkpoint's mapped tensors (issue 29):
the loaded model must equal the file exactly, keep the model's dtypes, computed buffers and
``requires_grad``, and match the former read-and-copy path."""

import os.path as osp

import pytest
import torch

from mmskysense.apis import init_model
from mmskysense.models.utils import load_weights, parameters_on_meta

CONFIG = osp.join(
    osp.dirname(__file__), '..', '..', 'configs', 'demo',
    'upernet_skysense-v2-tiny_1xb4-300it_geo-demo-128x128.py',
)  # fmt: skip


def _reference(tmp_path, dtype=None):
    """A model built normally with perturbed weights (none left at its initial values) and its
    checkpoint file (optionally saved in ``dtype``)."""
    model, _ = init_model(CONFIG, None)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    saved = {k: v.to(dtype) if dtype and v.is_floating_point() else v for k, v in state.items()}
    path = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=saved, meta=dict(dataset_meta=dict(classes=['x', 'y']))), path)
    return model, saved, path


def test_mapped_load_equals_the_file_and_the_copying_path(tmp_path):
    ref, saved, path = _reference(tmp_path)
    mapped, meta = init_model(CONFIG, path)
    copied, _ = init_model(CONFIG, path, mmap=False)
    assert meta == dict(classes=['x', 'y'])
    got, other = mapped.state_dict(), copied.state_dict()
    full = ref.state_dict()  # with the buffers computed at build (not in the file)
    assert set(got) == set(full) == set(other)
    for k, v in full.items():
        assert not got[k].is_meta, k
        assert got[k].dtype == v.dtype, k
        assert torch.equal(got[k], v), k
        assert torch.equal(other[k], v), k
    for (k, p), (_, q) in zip(mapped.named_parameters(), ref.named_parameters()):
        assert p.requires_grad == q.requires_grad, k
    assert not mapped.training
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(mapped.extract_feat(x)[-1], ref.eval().extract_feat(x)[-1])


def test_mapped_load_keeps_the_models_dtype(tmp_path):
    _, saved, path = _reference(tmp_path, dtype=torch.bfloat16)
    model, _ = init_model(CONFIG, path)
    for k, v in model.state_dict().items():
        if k in saved and saved[k].is_floating_point():
            assert v.dtype == torch.float32, k
            assert torch.equal(v, saved[k].float()), k


def test_a_weight_missing_from_the_file_is_an_error_not_a_meta_tensor(tmp_path):
    _, saved, _ = _reference(tmp_path)
    gone = next(k for k in saved if k.endswith('weight'))
    del saved[gone]
    from mmengine.config import Config

    from mmskysense.registry import MODELS

    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.pop('init_cfg', None)
    with parameters_on_meta():
        model = MODELS.build(cfg.model)
    assert all(p.is_meta for p in model.parameters())
    with pytest.raises(ValueError, match=gone.replace('.', r'\.')):
        load_weights(model, dict(state_dict=saved), strict=False, assign=True)
