"""``linear``: F.linear's function (value, gradients, second derivative) through oneDNN on CPU,
eager and as the compiled operator, and F.linear itself wherever oneDNN must not be used."""

import pytest
import torch

from mmskysense.models.layers import FeedForward
from mmskysense.models.layers import onednn_linear as mod
from mmskysense.models.layers.onednn_linear import _ONEDNN, linear, onednn_linear

needs_onednn = pytest.mark.skipif(not _ONEDNN, reason='no oneDNN x86 kernels in this torch')


@pytest.fixture
def any_size(monkeypatch):
    """oneDNN for the small products of these tests too."""
    monkeypatch.setattr(mod, 'MIN_MACS', 0)


def took_onednn(y: torch.Tensor) -> bool:
    name = type(y.grad_fn).__name__
    return name == '_EagerLinearBackward' or 'mmskysense_linear' in name


def reference(x, w, b):
    """The product in float64, written out (no F.linear, no code under test)."""
    y = torch.einsum('...k,nk->...n', x.double(), w.double())
    return y if b is None else y + b.double()


PATHS = {'eager': linear, 'operator': onednn_linear}


@needs_onednn
@pytest.mark.parametrize('path', sorted(PATHS))
@pytest.mark.parametrize('bias', [True, False])
@pytest.mark.parametrize('layout', ['contiguous', 'transposed'])
@pytest.mark.parametrize('n', [40, 16])  # wider and narrower than K: dW computed either way
def test_value_and_gradients_match_float64(path, bias, layout, n, any_size):
    g = torch.Generator().manual_seed(0)
    if layout == 'contiguous':
        x = torch.randn(2, 5, 7, 24, generator=g)
    else:  # a non-contiguous view, as the attention's output before the projection
        x = torch.randn(2, 24, 7, 5, generator=g).transpose(1, 3)
    w = torch.randn(n, 24, generator=g)
    b = torch.randn(n, generator=g) if bias else None
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
    y = PATHS[path](x, w, b)
    assert took_onednn(y)
    ref = reference(x, w, b)
    assert y.shape == ref.shape == (2, 5, 7, n)
    assert (y.double() - ref).abs().max() < 1e-4
    up = torch.randn(y.shape, generator=g)
    got = torch.autograd.grad(y, leaves, up)
    want = torch.autograd.grad(ref, leaves, up.double())
    for a, e in zip(got, want, strict=True):
        assert a.shape == e.shape
        assert (a.double() - e).abs().max() < 1e-4 * max(1.0, e.abs().max().item())


@needs_onednn
@pytest.mark.parametrize('path', sorted(PATHS))
def test_gradient_of_a_sum_has_zero_strides_and_is_right(path, any_size):
    """``y.sum()`` hands back an expanded gradient (zero strides): copied to rows first."""
    x = torch.randn(64, 32, requires_grad=True)
    w = torch.randn(48, 32, requires_grad=True)
    PATHS[path](x, w, None).sum().backward()
    assert torch.allclose(w.grad, x.sum(0).expand(48, 32), rtol=1e-5, atol=1e-5)
    assert torch.allclose(x.grad, w.sum(0).expand(64, 32), rtol=1e-5, atol=1e-5)
    expanded = torch.ones(1, 1).expand(64, 48)
    assert mod._plain(expanded).stride() == (48, 1)
    rows = torch.randn(5, 3)
    assert mod._plain(rows) is rows and mod._plain(rows.t()).data_ptr() == rows.data_ptr()


@needs_onednn
@pytest.mark.parametrize('path', sorted(PATHS))
def test_second_derivative_matches_float64(path, any_size):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 8, generator=g, requires_grad=True)
    w = torch.randn(5, 8, generator=g, requires_grad=True)

    def penalty(fn):
        # a gradient penalty: differentiating it needs the gradient's own gradient
        (gx,) = torch.autograd.grad(fn(x, w, None).square().sum(), x, create_graph=True)
        return torch.autograd.grad(gx.square().sum(), w)[0]

    got = penalty(PATHS[path])
    want = penalty(lambda a, b, c: reference(a, b, c))
    assert got.abs().max() > 1.0
    assert (got.double() - want).abs().max() < 1e-3 * want.abs().max()


@needs_onednn
def test_small_products_stay_with_f_linear():
    w = torch.randn(128, 128)
    small = torch.randn(255, 128, requires_grad=True)  # one row short of MIN_MACS
    big = torch.randn(256, 128, requires_grad=True)
    assert 256 * 128 * 128 == mod.MIN_MACS
    assert not took_onednn(linear(small, w)) and took_onednn(linear(big, w))


def test_falls_back_to_f_linear_where_onednn_must_not_run(any_size):
    x, w = torch.randn(4, 8, requires_grad=True), torch.randn(3, 8)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = linear(x, w)
    assert y.dtype == torch.bfloat16 and not took_onednn(y)
    assert not took_onednn(linear(x.double(), w.double()))
    with torch.backends.mkldnn.flags(enabled=False):
        assert not took_onednn(linear(x, w))
    with pytest.raises(RuntimeError, match='shapes cannot be multiplied'):
        linear(x, torch.randn(3, 7))  # F.linear's own error for mismatched widths


@needs_onednn
def test_compiles_as_one_graph_and_feed_forward_uses_it(any_size):
    ffn = FeedForward(16, 32)
    x = torch.randn(3, 16, requires_grad=True)
    y = ffn(x)
    assert took_onednn(y)
    h = torch.nn.functional.gelu(reference(x, ffn.fc1.weight, ffn.fc1.bias))
    assert (y.double() - reference(h, ffn.fc2.weight, ffn.fc2.bias)).abs().max() < 1e-5
    torch._dynamo.reset()
    e = torch._dynamo.explain(lambda t: ffn(t).sum())(x)
    assert (e.graph_count, e.graph_break_count) == (1, 0)
    torch._dynamo.reset()
    compiled = torch.compile(ffn, backend='aot_eager', fullgraph=True)
    out = compiled(x)
    assert torch.equal(out, y)  # the same operator, the same arithmetic


@needs_onednn
@pytest.mark.parametrize('path', sorted(PATHS))
def test_flop_counter_counts_the_products_forward_and_backward(path, any_size):
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(2, 6, 8, requires_grad=True)
    w = torch.randn(5, 8, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        y = PATHS[path](x, w, torch.zeros(5))
        assert took_onednn(y)
        y.sum().backward()
    # forward 2 M K N, backward twice that (input and weight gradients), each counted once
    assert counter.get_total_flops() == 3 * 2 * 12 * 8 * 5


@needs_onednn
@pytest.mark.parametrize('path', sorted(PATHS))
def test_no_rows_gives_zero_weight_gradients(path, any_size):
    """An expert without tokens: an empty output, and zero (not missing) weight gradients."""
    x = torch.randn(0, 8, requires_grad=True)
    w = torch.randn(5, 8, requires_grad=True)
    b = torch.randn(5, requires_grad=True)
    y = PATHS[path](x, w, b)
    assert y.shape == (0, 5) and took_onednn(y)
    y.sum().backward()
    assert x.grad.shape == (0, 8)
    assert torch.equal(w.grad, torch.zeros(5, 8)) and torch.equal(b.grad, torch.zeros(5))
