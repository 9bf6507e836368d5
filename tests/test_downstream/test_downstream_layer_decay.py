"""Layer-wise lr decay constructor driven by the backbone's get_layer_depth."""

import pytest
import torch.nn as nn

from mmskysense.engine.optimizers import LayerDecayOptimWrapperConstructor
from mmskysense.models.backbones import SkySenseV2SingleModal


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = SkySenseV2SingleModal(modality='hr', arch='tiny')
        self.head = nn.Linear(256, 5)


def _build(rate=0.5, lr=1.0, wd=0.05):
    return LayerDecayOptimWrapperConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=lr, weight_decay=wd)),
        dict(layer_decay_rate=rate),
    )


def test_lr_follows_layer_depth():
    model = _Model()
    constructor = _build(rate=0.5)
    table = constructor.param_scale_and_decay(model)
    num = sum(model.backbone.depths) + 2
    assert table['head.weight'] == (1.0, 0.05)
    assert table['head.bias'] == (1.0, 0.0)
    tok = [
        n
        for n in table
        if n.startswith('backbone.tokenizers') and n.endswith('weight') and table[n][1] > 0
    ][0]
    assert table[tok][0] == pytest.approx(0.5 ** (num - 1))
    last_block = [n for n in table if n.startswith('backbone.stages.3.blocks.1.')][0]
    assert table[last_block][0] == pytest.approx(0.5)
    # the backbone's no-decay names (prompt tokens, logit scales, cpb MLP) are not decayed
    for name in model.backbone.no_weight_decay():
        assert table['backbone.' + name][1] == 0.0

    wrapper = constructor(model)
    lrs = sorted({g['lr'] for g in wrapper.optimizer.param_groups})
    assert lrs[-1] == 1.0 and lrs[0] == pytest.approx(0.5 ** (num - 1))
    n_params = sum(len(g['params']) for g in wrapper.optimizer.param_groups)
    assert n_params == len([p for p in model.parameters() if p.requires_grad])


def test_errors():
    with pytest.raises(KeyError, match='layer_decay_rate'):
        LayerDecayOptimWrapperConstructor(
            dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1)), {}
        )
    with pytest.raises(AttributeError, match='get_layer_depth'):
        model = nn.Module()
        model.backbone = nn.Linear(2, 2)
        _build()(model)
