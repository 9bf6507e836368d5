"""``F.linear`` on CPU through oneDNN's float32 GEMM instead of the BLAS behind ``torch.mm``.

Not a paper idea: a speed choice for the CPUs users run the model on. torch sends a float32
``addmm`` / ``mm`` on CPU to MKL; oneDNN picks its kernels by instruction set. On this project's
AMD EPYC (Zen 5, AVX-512, one thread) a 2048 x 128 x 512 product ran at 100 GFLOP/s through
``torch.mm`` and at 265 GFLOP/s through oneDNN, and the stage-1 Swin V2 pair took 0.61 of
mmpretrain's time against 0.92-0.95 through ``F.linear`` (``benchmarks/bench_backbone_blocks.py``,
docs/performance.md). Not measured on an Intel CPU, where MKL is expected to be on par. The
arithmetic is float32 throughout (no reduced-precision mode); results differ from
``torch.mm``'s by summation order only.

The product is one operator, ``mmskysense::linear``, with its gradient (two more products of the
same operator, so it is differentiable twice) and a fake function: ``torch.compile`` keeps it in
its graph as an opaque call and fuses what lies around it. Exporters (``torch.export``, ONNX,
TorchScript tracing), autocast, other dtypes and devices, and ``torch.backends.mkldnn`` disabled
take ``F.linear``. ``torch.utils.flop_counter`` counts the operator as ``addmm``.
"""

import math
import platform

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import flop_registry, register_flop_formula

# oneDNN's x86 kernels are the ones measured; elsewhere (e.g. ACL on aarch64) torch's default
_ONEDNN = (
    torch.backends.mkldnn.is_available()
    and hasattr(torch.ops.mkldnn, '_linear_pointwise')
    and platform.machine().lower() in ('x86_64', 'amd64')
)


# Below this many multiply-adds (M K N) a product stays with F.linear: the operator's own cost
# (about 50 us forward and backward in eager, 2.7x F.linear's on a 16 x 64 x 64 product) then
# outweighs the faster GEMM; from 256 x 128 x 128 on, oneDNN's took 0.85 of F.linear's time.
MIN_MACS = 1 << 22


def _plain(t: torch.Tensor) -> torch.Tensor:
    """``t`` (2-D) if it is rows or a transposed view of rows, else a copy: oneDNN's GEMM crawls
    on other strides (the zero strides of ``y.sum()``'s gradient took 0.6 s for 256 x 128 x 512)."""
    return t if t.is_contiguous() or t.t().is_contiguous() else t.contiguous()


def _product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    if x.numel() == 0 or weight.numel() == 0:
        # empty products (an expert without tokens, its weight gradient): torch's zeros / bias
        return F.linear(x, weight, bias)
    x2d = _plain(x.reshape(math.prod(x.shape[:-1]), x.shape[-1]))
    out = torch.ops.mkldnn._linear_pointwise(x2d, _plain(weight), bias, 'none', [], '')
    return out.view(*x.shape[:-1], weight.shape[0])


def _gradients(product, needs: tuple, x, weight, has_bias: bool, grad: torch.Tensor):
    """Gradients of ``x @ weight.T + bias`` as products of ``product`` (the operator itself, so
    that they are differentiable in turn)."""
    n, k = weight.shape
    grad2d = grad.reshape(math.prod(grad.shape[:-1]), n)
    grad_x = grad_w = grad_b = None
    if needs[0]:
        grad_x = product(grad, weight.t(), None)
    if needs[1]:
        # dW = grad^T x, a reduction over the tokens: oneDNN copies its transposed left operand
        # to rows, so the narrower of the two goes left (dW^T = x^T grad when x is narrower)
        x2d = x.reshape(grad2d.shape[0], k)
        if n <= k:
            grad_w = product(grad2d.t(), x2d.t(), None)
        else:
            grad_w = product(x2d.t(), grad2d.t(), None).t()
    if has_bias and needs[2]:
        grad_b = grad2d.sum(0)
    return grad_x, grad_w, grad_b


@torch.library.custom_op('mmskysense::linear', mutates_args=())
def onednn_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``x @ weight.T + bias`` (``x``: ``... x K``, ``weight``: ``N x K``) by oneDNN's GEMM, as
    one operator for ``torch.compile``; ``weight`` may be a transposed view."""
    return _product(x, weight, bias)


@onednn_linear.register_fake
def _onednn_linear_shape(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    return x.new_empty(*x.shape[:-1], weight.shape[0])


def _setup(ctx, inputs, output) -> None:
    x, weight, bias = inputs
    ctx.save_for_backward(x, weight)
    ctx.has_bias = bias is not None


def _backward(ctx, grad: torch.Tensor):
    x, weight = ctx.saved_tensors
    return _gradients(onednn_linear, ctx.needs_input_grad, x, weight, ctx.has_bias, grad)


onednn_linear.register_autograd(_backward, setup_context=_setup)


class _EagerLinear(torch.autograd.Function):
    """The operator's function and gradient for eager mode, where a custom operator's dispatch
    costs more than its arithmetic saves on the smaller products (e.g. 675 against 510 us on
    256 x 128 x 128, forward and backward)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _product(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        return _gradients(_EagerLinear.apply, ctx.needs_input_grad, x, weight, ctx.has_bias, grad)


def _linear_flops(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
    # 2 M K N, as addmm's
    return 2 * math.prod(x_shape[:-1]) * w_shape[1] * w_shape[0]


# FlopCounterMode sees the compiled path's operator (not the product inside it) and, in eager,
# oneDNN's product itself, for which torch has no formula
register_flop_formula(torch.ops.mmskysense.linear)(_linear_flops)
if _ONEDNN and torch.ops.mkldnn._linear_pointwise.default not in flop_registry:
    register_flop_formula(torch.ops.mkldnn._linear_pointwise)(_linear_flops)


def onednn_applies(x: torch.Tensor, *params: torch.Tensor | None) -> bool:
    """Whether :func:`linear` takes oneDNN for input ``x`` and the weight / bias ``params``."""
    return (
        _ONEDNN
        and x.device.type == 'cpu'
        and all(t is None or t.dtype == torch.float32 for t in (x, *params))
        and torch.backends.mkldnn.enabled
        and not torch.is_autocast_enabled('cpu')
        and not torch.compiler.is_exporting()
        and not torch.onnx.is_in_onnx_export()
        and not torch.jit.is_tracing()
    )


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)``, through oneDNN for float32 on an x86 CPU from
    :data:`MIN_MACS` multiply-adds on (:func:`onednn_linear` when compiling)."""
    # onednn_applies first: under an exporter it is False before the size test could put a
    # guard on a dynamic batch
    if (
        weight.dim() == 2
        and onednn_applies(x, weight, bias)
        and x.shape[-1] == weight.shape[1]
        and x.numel() * weight.shape[0] >= MIN_MACS  # M K N
    ):
        if torch.compiler.is_compiling():
            return onednn_linear(x, weight, bias)
        return _EagerLinear.apply(x, weight, bias)
    return F.linear(x, weight, bias)
