"""The tiny pretraining step under bf16 autocast on CPU (``AutocastOptimWrapper``, the wrapper of
the huge DDP recipe): every loss term is finite and close to the float32 step, and so is the
gradient, as a whole.

Tolerances: bf16 keeps 8 bits of mantissa (a relative rounding of 2^-9 per operation), and the
step runs the backbone, the fusion and the heads in it; the losses' similarities, Sinkhorn plans
and softmaxes stay float32 (``float32_region``). Each loss term is held to 5 % of its float32
value (plus 0.02 absolute for terms near 0) and the whole gradient to a cosine of 0.99 with the
float32 one; a term computed wrongly in bf16 (a cosine logit over a temperature of 0.05) moves
by far more.
"""

import math

import pytest
import torch
from tiny_pretraining import (
    collate,
    deterministic_init,
    pinned_samples,
    text_embeddings,
    tiny_model_cfg,
)

from mmskysense.engine.optimizers import AutocastOptimWrapper
from mmskysense.registry import MODELS
from mmskysense.utils import register_all_modules

register_all_modules()


def _step(model, data, wrapper):
    model.zero_grad(set_to_none=True)
    with wrapper.optim_context(model):
        losses = model.loss(**data)
    total, _ = model.parse_losses(losses)
    total.backward()
    grads = [p.grad.float().reshape(-1) for p in model.parameters() if p.grad is not None]
    return {k: v.detach().float() for k, v in losses.items()}, total.detach(), torch.cat(grads)


@pytest.fixture(scope='module')
def steps(tmp_path_factory):
    text = text_embeddings(str(tmp_path_factory.mktemp('bf16') / 'text.pth'))
    out = {}
    for name, dtype in (('fp32', None), ('bf16', 'bfloat16')):
        torch.manual_seed(0)
        model = MODELS.build(tiny_model_cfg(text))
        model.init_weights()
        deterministic_init(model)
        model.train()
        student = [p for n, p in model.named_parameters() if p.requires_grad]
        wrapper = AutocastOptimWrapper(dtype=dtype, optimizer=torch.optim.SGD(student, lr=0.0))
        data = model.data_preprocessor(collate(pinned_samples()), True)
        out[name] = _step(model, data, wrapper)
    return out


def test_bf16_losses_are_finite_and_close_to_fp32(steps):
    (ref, ref_total, _), (bf16, total, _) = steps['fp32'], steps['bf16']
    assert set(bf16) == set(ref)
    assert math.isfinite(total.item())
    for key, value in ref.items():
        assert torch.isfinite(bf16[key]).all(), key
        assert abs(bf16[key].item() - value.item()) <= 0.05 * abs(value.item()) + 0.02, (
            key,
            bf16[key].item(),
            value.item(),
        )
    assert total.item() == pytest.approx(ref_total.item(), rel=0.02)


def test_bf16_gradient_is_finite_and_aligned_with_fp32(steps):
    ref, grad = steps['fp32'][2], steps['bf16'][2]
    assert grad.shape == ref.shape and torch.isfinite(grad).all()
    cos = torch.nn.functional.cosine_similarity(grad.double(), ref.double(), dim=0).item()
    assert cos > 0.99, cos


def test_the_wrapper_refuses_float16_and_autocasts_the_forward():
    with pytest.raises(ValueError, match='float16'):
        AutocastOptimWrapper(dtype='float16', optimizer=torch.optim.SGD([torch.zeros(1)], lr=0))
    lin = torch.nn.Linear(4, 4)
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(lin.parameters(), lr=0))
    with wrapper.optim_context(lin):
        assert lin(torch.randn(2, 4)).dtype == torch.bfloat16
