"""``torch.compile`` captures the backbone (every modality), the UperNet segmentor and the
pretraining student step in one graph each: ``torch._dynamo.explain`` finds no graph break.

A compiled graph cannot skip padded dates of a series (which dates are real is data), so it
computes them and zeroes their features; its outputs must equal eager's, which skips them.
"""

import pytest
import torch
from helpers.tiny import tiny_upernet
from tiny_pretraining import collate, pinned_samples, text_embeddings, tiny_model_cfg

from mmskysense.models.backbones import SkySenseV2Backbone
from mmskysense.models.layers import MixtureOfExperts
from mmskysense.models.layers.mixture_of_experts import grouped_mm_available
from mmskysense.registry import MODELS
from mmskysense.utils import register_all_modules

register_all_modules()


def explain(fn, *args):
    """``(graphs, breaks, reasons)`` of dynamo tracing ``fn(*args)``."""
    torch._dynamo.reset()
    e = torch._dynamo.explain(fn)(*args)
    reasons = [b.reason.split('\n')[0] + f' at {b.user_stack[-1:]}' for b in e.break_reasons]
    return e.graph_count, e.graph_break_count, reasons


def assert_one_graph(fn, *args) -> None:
    graphs, breaks, reasons = explain(fn, *args)
    assert (graphs, breaks) == (1, 0), f'{graphs} graphs, {breaks} breaks: {reasons}'


@pytest.fixture(scope='module')
def backbone():
    torch.manual_seed(0)
    return SkySenseV2Backbone(arch='tiny').eval()


SERIES = dict(
    s2=(10, [[True, True, False], [False, True, True]]), s1=(2, [[True, False], [True, True]])
)


@pytest.mark.parametrize('name', ['hr', 's2', 's1'])
def test_backbone_compiles_without_breaks(backbone, name, one_intra_op_thread):
    g = torch.Generator().manual_seed(1)
    if name == 'hr':
        inputs, masks = {name: torch.randn(2, 3, 32, 32, generator=g)}, None
    else:
        bands, mask = SERIES[name]
        mask = torch.tensor(mask)
        inputs = {name: torch.randn(2, mask.shape[1], bands, 8, 8, generator=g)}
        masks = {name: mask}
    with torch.no_grad():
        assert_one_graph(backbone, inputs, masks)
        if masks is None:
            return  # the compiled path of an image is eager's; a series' differs (docstring)
        eager = backbone(inputs, masks)[name]
        torch._dynamo.reset()
        compiled = torch.compile(backbone, backend='aot_eager', fullgraph=True)(inputs, masks)
    for e, c in zip(eager, compiled[name], strict=True):
        assert e.abs().max() > 0.1
        torch.testing.assert_close(c, e, rtol=1e-5, atol=1e-5)
    for c in compiled[name]:  # the padded dates' features are zeros, the real ones are not
        assert (c[~masks[name]] == 0).all()
        assert (c[masks[name]].abs().amax(dim=(1, 2, 3)) > 0).all()


def test_moe_grouped_product_compiles_with_eager_gradients(one_intra_op_thread):
    """The grouped product goes through an opaque operator under compile (torch's fake
    function of ``_grouped_mm`` takes bfloat16 only): same outputs and gradients as eager."""
    torch.manual_seed(0)
    x = torch.randn(2, 24, 32)
    if not grouped_mm_available(x.device, x.dtype):
        pytest.skip('this torch build has no grouped product on the CPU')
    # 'grouped' in eager too ('auto' takes the loop there on an x86 CPU)
    moe = MixtureOfExperts(32, 128, 4, dispatch='grouped')
    with torch.no_grad():
        moe.gate.weight.normal_(0, 0.5)  # every expert gets tokens

    def run(fn):
        moe.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_(True)
        out, loss, counts = fn(xi)
        (out.square().sum() + loss).backward()
        return [out, counts, xi.grad] + [p.grad for p in moe.parameters()]

    eager = run(moe)
    assert (eager[1] > 0).all()
    assert_one_graph(moe, x)
    torch._dynamo.reset()
    compiled = run(torch.compile(moe, backend='aot_eager', fullgraph=True))
    for e, c in zip(eager, compiled, strict=True):
        torch.testing.assert_close(c, e, rtol=1e-6, atol=1e-6)


def test_upernet_segmentor_compiles_without_breaks(one_intra_op_thread):
    seg = MODELS.build(tiny_upernet(num_classes=5)).eval()
    x = torch.randn(2, 3, 64, 64)
    metas = [dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64))] * 2
    with torch.inference_mode():
        assert_one_graph(seg.encode_decode, x, metas)


@pytest.mark.slow  # about 100 s on 2 busy cores: dynamo traces every objective
def test_pretraining_student_step_compiles_without_breaks(tmp_path, one_intra_op_thread):
    """``model.loss`` of the tiny recipe (student and teacher forward, every objective) on the
    pinned batch, padded dates included."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(text_embeddings(str(tmp_path / 'text.pth'))))
    model.init_weights()
    model.train()
    data = model.data_preprocessor(collate(pinned_samples()), True)
    assert any(not m.all() for m in data['inputs'].date_masks.values())

    def student_step(inputs):
        return model.loss(inputs)

    assert_one_graph(student_step, data['inputs'])
