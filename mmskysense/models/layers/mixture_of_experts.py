"""Mixture of Experts FFN (SkySense V2, section 3.1.3, eq. 2).

    MOE(x) = sum_{i in T} G_i(x) * E_i(x),    G(x) = Softmax(W x),    T = top-k indices of G(x)

M experts of the FFN's shape replace the FFN of the last L blocks (paper: L = 6, M = 8, k = 1).

The experts' weights are stacked (``experts.fc1.weight``: ``M x hidden x C``, ``experts.fc2``:
``M x C x hidden``, biases ``M x ...``). Dispatch: the token assignments are sorted by expert,
the per-expert counts are made on the device (a scatter-add, never read by the host) and their
running sum delimits each expert's contiguous slice; one grouped matrix product per layer
(``torch.nn.functional.grouped_mm`` / ``torch._grouped_mm``, cumulative int32 offsets) runs every
expert on its slice. Where the torch build, device or dtype has no grouped product (it is probed
once per device type and dtype), a loop over the M experts on host-side slices gives the same
numbers. For top-1 the sort is a permutation, so both moves (and their gradients) are row gathers.
Exporters (``torch.export``, ONNX) trace neither: the dense dispatch runs every expert on every
token (one batched product per layer, ``M`` times the work) and weights each expert's output by
its gate value where it is among the top-k, zero elsewhere; it gives the same function with no
data-dependent shape, and ``'auto'`` takes it while exporting.

Load balancing (Switch Transformer, Fedus et al. 2021, eq. 4):

    loss = M * sum_i f_i * P_i

with f_i the fraction of token assignments routed to expert i and P_i the mean gate probability
of expert i over the tokens. f_i is also exposed as the per-expert load.

Checkpoints with one module per expert (``experts.<e>.fc1.weight``, before the weights were
stacked) or with a dense FFN (``fc1.weight``: sparse upcycling) are converted by
:func:`stack_expert_weights`, which ``checkpoint_filter_fn`` (rule 7) applies to every MoE of
the model it loads into.
"""

import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmskysense.registry import MODELS

from .onednn_linear import linear, onednn_applies

#: the tensors of one FFN (and of each expert)
FFN_KEYS = ('fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias')
_PER_EXPERT = re.compile(r'^(?P<prefix>.*?)experts\.(?P<e>\d+)\.(?P<key>fc[12]\.(weight|bias))$')


def stack_expert_weights(
    state_dict: dict[str, torch.Tensor], prefix: str | None = None, num_experts: int | None = None
) -> list[str]:
    """Convert, in place, old MoE layouts in ``state_dict`` to the stacked one.

    Two rules, for the MoE whose keys start with ``prefix`` (``'...ffn.'``), or for every MoE
    found in the dict when ``prefix`` is None:

    * per-expert keys ``<prefix>experts.<e>.fc{1,2}.{weight,bias}`` (e = 0..M-1, checkpoints
      before the stacking) become ``<prefix>experts.fc{1,2}.{weight,bias}``, stacked over e;
    * a dense FFN ``<prefix>fc{1,2}.{weight,bias}`` (a dense checkpoint loaded into a MoE:
      sparse upcycling) is copied into each of ``num_experts`` experts (only with ``prefix`` and
      ``num_experts`` given: a dense FFN is not a MoE by its keys alone). The gate keeps its
      initialisation.

    Returns:
        the prefixes that were converted.

    Raises:
        KeyError: a per-expert layout with an expert missing (e.g. experts 0, 1 and 3).
    """
    found: dict[str, dict[str, dict[int, str]]] = {}
    for key in state_dict:
        m = _PER_EXPERT.match(key)
        if m and (prefix is None or m.group('prefix') == prefix):
            found.setdefault(m.group('prefix'), {}).setdefault(m.group('key'), {})[
                int(m.group('e'))
            ] = key
    done = []
    for head, per_key in found.items():
        for name, by_expert in per_key.items():
            experts = sorted(by_expert)
            count = num_experts if num_experts is not None else len(experts)
            if experts != list(range(count)):
                raise KeyError(
                    f'stack_expert_weights: {head}experts.<e>.{name} has experts {experts}, '
                    f'expected 0..{count - 1}'
                )
            state_dict[f'{head}experts.{name}'] = torch.stack(
                [state_dict.pop(by_expert[e]) for e in experts]
            )
        done.append(head)
    if prefix is not None and num_experts is not None and prefix not in found:
        dense = [n for n in FFN_KEYS if prefix + n in state_dict]
        if dense and prefix + 'experts.fc1.weight' not in state_dict:
            for n in dense:
                value = state_dict.pop(prefix + n)
                state_dict[f'{prefix}experts.{n}'] = value.unsqueeze(0).repeat(
                    num_experts, *([1] * value.dim())
                )
            done.append(prefix)
    return done


class StackedLinear(nn.Module):
    """``M`` linear layers of one shape held as one tensor: ``weight`` ``M x out x in`` (each
    ``weight[e]`` laid out as ``nn.Linear``'s), ``bias`` ``M x out``."""

    def __init__(self, num: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(num, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(num, out_features))

    def extra_repr(self) -> str:
        return f'num={self.weight.shape[0]}, in={self.in_features}, out={self.out_features}'


class StackedExperts(nn.Module):
    """The M experts of a MoE, each an FFN ``fc2(drop(gelu(fc1(x))))`` of the dense FFN's shape,
    with stacked weights (``fc1``, ``fc2``: :class:`StackedLinear`)."""

    def __init__(self, num_experts: int, embed_dims: int, hidden_dims: int, drop: float) -> None:
        super().__init__()
        self.fc1 = StackedLinear(num_experts, embed_dims, hidden_dims)
        self.fc2 = StackedLinear(num_experts, hidden_dims, embed_dims)
        self.drop = nn.Dropout(drop)


class Permute(torch.autograd.Function):
    """``x.index_select(dim, perm)`` for a permutation ``perm``, whose gradient is the gather
    ``grad.index_select(dim, inv)`` (``inv`` = inverse of ``perm``) instead of the scatter-add
    autograd would use for a general index. The MoE sorts its tokens by expert with it, the
    shifted Swin windows take their cyclic shift and partition in one pass."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, perm: torch.Tensor, inv: torch.Tensor, dim: int):
        # kept as an attribute, not saved for backward: a constant index (the Swin block
        # caches its window order) may have been made under torch.inference_mode, whose
        # tensors autograd refuses to save
        ctx.inv = inv
        ctx.dim = dim
        return x.index_select(dim, perm)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad.index_select(ctx.dim, ctx.inv), None, None, None


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward makes the gradient contiguous: the grouped product's backward
    refuses gradients with zero strides (e.g. the gradient of ``y.sum()``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous()


def _grouped_mm_fn():
    fn = getattr(F, 'grouped_mm', None)
    return fn if fn is not None else getattr(torch, '_grouped_mm', None)


_GROUPED_MM_SUPPORT: dict[tuple[str, torch.dtype], bool] = {}


@torch.library.custom_op('mmskysense::grouped_mm', mutates_args=())
def traced_grouped_mm(a: torch.Tensor, b: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
    """The grouped product as one opaque operator for ``torch.compile``: torch's own fake
    (meta) function of ``_grouped_mm`` accepts bfloat16 only, so a float32 graph would break
    at it. Runs the same kernel as eager; its gradient is two grouped products."""
    return _grouped_mm_fn()(a, b, offs=offs)


@traced_grouped_mm.register_fake
def _grouped_mm_shape(a: torch.Tensor, b: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
    if a.dim() == 2 and b.dim() == 3:  # (T, K) x (G, K, N), jagged T -> (T, N)
        return a.new_empty(a.shape[0], b.shape[2])
    if a.dim() == 2 and b.dim() == 2:  # (K, T) x (T, N), jagged T -> (G, K, N)
        return a.new_empty(offs.shape[0], a.shape[0], b.shape[1])
    raise ValueError(f'grouped_mm: unsupported shapes {tuple(a.shape)} x {tuple(b.shape)}')


def _grouped_mm_setup(ctx, inputs, output) -> None:
    ctx.save_for_backward(*inputs)


def _grouped_mm_backward(ctx, grad: torch.Tensor):
    a, b, offs = ctx.saved_tensors
    grad = grad.contiguous()
    if b.dim() != 3:
        raise NotImplementedError('grouped_mm: the gradient of the weight-gradient product')
    grad_a = traced_grouped_mm(grad, b.mT, offs) if ctx.needs_input_grad[0] else None
    grad_b = traced_grouped_mm(a.mT, grad, offs) if ctx.needs_input_grad[1] else None
    return grad_a, grad_b, None


traced_grouped_mm.register_autograd(_grouped_mm_backward, setup_context=_grouped_mm_setup)


@torch.compiler.assume_constant_result
def grouped_mm_available(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether this torch build runs the grouped product (forward and backward) on ``device``
    in ``dtype``: probed once per device type and dtype on a small problem (under
    ``torch.compile`` the probe runs eagerly at trace time and its answer is a constant)."""
    fn = _grouped_mm_fn()
    if fn is None:
        return False
    if device.type == 'meta':
        return True
    key = (device.type, dtype)
    if key not in _GROUPED_MM_SUPPORT:
        try:
            # the first call can come inside an activation checkpoint's forward: identity hooks
            # keep the probe's saved tensors out of the checkpoint's (whose recomputation would
            # then find fewer tensors than the forward saved)
            identity = torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t)
            with torch.enable_grad(), identity:
                a = torch.ones(16, 16, device=device, dtype=dtype, requires_grad=True)
                b = torch.ones(2, 16, 16, device=device, dtype=dtype, requires_grad=True)
                # groups of 5 and 11 rows: the real counts are not multiples of anything
                offs = torch.tensor([5, 16], device=device, dtype=torch.int32)
                out = fn(a, b.transpose(-2, -1), offs=offs)
                out.backward(torch.ones_like(out))
            _GROUPED_MM_SUPPORT[key] = bool(
                out.shape == (16, 16) and a.grad is not None and b.grad is not None
            )
        except (RuntimeError, NotImplementedError, TypeError):
            _GROUPED_MM_SUPPORT[key] = False
    return _GROUPED_MM_SUPPORT[key]


@MODELS.register_module()
class MixtureOfExperts(nn.Module):
    """Top-k gated mixture of FFN experts (eq. 2).

    ``forward`` returns ``(output, balance_loss, expert_counts)``; the caller records the last two
    with :meth:`record` (outside any activation checkpoint, so a recompute does not count twice),
    and :meth:`aux_loss` / :meth:`expert_load` read what was recorded since :meth:`reset_stats`.

    Args:
        embed_dims: token width C.
        hidden_dims: hidden width of each expert (as the dense FFN it replaces).
        num_experts: M.
        top_k: k, experts per token.
        drop: dropout inside the experts.
        dispatch: ``'auto'`` (while exporting the dense dispatch, else the grouped product where
            available, else the loop; in eager float32 on an x86 CPU the loop, whose products
            take oneDNN), ``'grouped'``, ``'loop'`` or ``'dense'`` (all compute the same
            function; the loop reads the per-expert counts on the host, the dense one runs every
            expert on every token).
    """

    DISPATCH = ('auto', 'grouped', 'loop', 'dense')

    def __init__(
        self,
        embed_dims: int,
        hidden_dims: int,
        num_experts: int = 8,
        top_k: int = 1,
        drop: float = 0.0,
        dispatch: str = 'auto',
    ) -> None:
        super().__init__()
        if num_experts < 1:
            raise ValueError(f'MixtureOfExperts: num_experts must be >= 1, got {num_experts}')
        if not 1 <= top_k <= num_experts:
            raise ValueError(
                f'MixtureOfExperts: top_k must be in [1, num_experts={num_experts}], got {top_k}'
            )
        if dispatch not in self.DISPATCH:
            raise ValueError(
                f'MixtureOfExperts: dispatch must be one of {self.DISPATCH}, got {dispatch!r}'
            )
        self.embed_dims = embed_dims
        self.hidden_dims = hidden_dims
        self.num_experts = num_experts
        self.top_k = top_k
        self.dispatch = dispatch
        # G(x) = Softmax(W x): no bias, as eq. 2.
        self.gate = nn.Linear(embed_dims, num_experts, bias=False)
        self.experts = StackedExperts(num_experts, embed_dims, hidden_dims, drop)
        self._records: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # the same draws, in the same order, as one nn.Linear per expert: gate, then per expert
        # fc1 and fc2
        nn.init.trunc_normal_(self.gate.weight, std=0.02)
        with torch.no_grad():
            for e in range(self.num_experts):
                for lin in (self.experts.fc1, self.experts.fc2):
                    nn.init.trunc_normal_(lin.weight[e], std=0.02)
                    nn.init.zeros_(lin.bias[e])

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gate probabilities ``N x M``, top-k gate values and expert indices ``N x k``."""
        # Softmax in float32: gate values multiply the expert outputs and enter the balance loss.
        probs = self.gate(x).float().softmax(dim=-1)
        gate_vals, expert_idx = probs.topk(self.top_k, dim=-1)
        return probs, gate_vals, expert_idx

    def use_dense(self) -> bool:
        """Whether :meth:`forward` runs every expert on every token: asked for, or while an
        exporter traces the model (``'auto'``)."""
        if self.dispatch == 'dense':
            return True
        return self.dispatch == 'auto' and (
            torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export()
        )

    def use_grouped_mm(self, x: torch.Tensor) -> bool:
        """Whether :meth:`forward` takes the grouped product for input ``x``."""
        if self.dispatch in ('loop', 'dense'):
            return False
        dtype = _compute_dtype(x)
        # the grouped kernels need 16-byte aligned rows in both operands
        aligned = all(d * dtype.itemsize % 16 == 0 for d in (self.embed_dims, self.hidden_dims))
        ok = aligned and grouped_mm_available(x.device, dtype)
        if self.dispatch == 'grouped' and not ok:
            raise RuntimeError(
                f'MixtureOfExperts: dispatch="grouped" but this torch build has no grouped '
                f'product for {x.device.type} / {dtype} with embed_dims={self.embed_dims}, '
                f'hidden_dims={self.hidden_dims} (rows must be 16-byte aligned)'
            )
        if self.dispatch == 'auto' and ok and not torch.compiler.is_compiling():
            # Eager on an x86 CPU the loop's products go through oneDNN (onednn_linear), the
            # grouped product through MKL: the loop took 0.58 of its time (4096 tokens, C 256,
            # 8 experts, one thread). Compiled, the grouped product keeps one graph.
            ok = not onednn_applies(x, self.experts.fc1.weight)
        return ok

    def forward(
        self, x: torch.Tensor | list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | list[tuple]:
        """Apply eq. 2 to the tokens ``x`` (``... x C``).

        Returns:
            output of the shape of ``x``; the Switch balance loss (scalar); the number of token
            assignments per expert (``M``, long, on ``x``'s device). For a list of tensors,
            the list of these triples (:meth:`forward_segments`).
        """
        if isinstance(x, (list, tuple)):
            return self.forward_segments(list(x))
        if x.shape[-1] != self.embed_dims:
            raise ValueError(
                f'MixtureOfExperts: expected last dim {self.embed_dims} (embed_dims), '
                f'got shape {tuple(x.shape)}'
            )
        shape = x.shape
        x = x.reshape(-1, self.embed_dims)
        probs, gate_vals, expert_idx = self.route(x)
        loss, counts = self._balance(probs, expert_idx)
        if self.use_dense():
            # gate values at the chosen experts, zero elsewhere: N x M
            weights = torch.zeros_like(probs).scatter(1, expert_idx, gate_vals)
            return self._experts_dense(x, weights).reshape(shape), loss, counts
        return self._dispatch(x, gate_vals, expert_idx, counts).reshape(shape), loss, counts

    def forward_segments(
        self, xs: list[torch.Tensor]
    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """:meth:`forward` of each of ``xs`` (e.g. the tokens of several modalities), with one
        dispatch for all: the experts read their weights once (and their weight gradients are
        made once) instead of once per tensor. Each tensor keeps its own balance loss and
        counts, and each token its own routing, so the results are those of one :meth:`forward`
        per tensor."""
        for x in xs:
            if x.shape[-1] != self.embed_dims:
                raise ValueError(
                    f'MixtureOfExperts: expected last dim {self.embed_dims} (embed_dims), '
                    f'got shape {tuple(x.shape)}'
                )
        if len(xs) <= 1 or self.use_dense():
            return [self.forward(x) for x in xs]
        flat = torch.cat([x.reshape(-1, self.embed_dims) for x in xs])
        probs, gate_vals, expert_idx = self.route(flat)
        sizes = [x.numel() // self.embed_dims for x in xs]
        segments = torch.cat(
            [torch.full((n,), i, dtype=torch.long, device=flat.device) for i, n in enumerate(sizes)]
        )
        losses, seg_counts = self._balance(probs, expert_idx, segments, len(xs))
        out = self._dispatch(flat, gate_vals, expert_idx, seg_counts.sum(0)).split(sizes)
        return [
            (y.reshape(x.shape), loss, c)
            for y, x, loss, c in zip(out, xs, losses, seg_counts, strict=True)
        ]

    def _balance(
        self,
        probs: torch.Tensor,
        expert_idx: torch.Tensor,
        segments: torch.Tensor | None = None,
        num_segments: int = 1,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The Switch balance loss and the assignments per expert of one call's routing; with
        ``segments`` (``N`` long: the input of each token), those of each of ``num_segments``
        inputs, in one pass: ``num_segments`` losses and a ``num_segments x M`` count."""
        m, k = self.num_experts, self.top_k
        rows = expert_idx if segments is None else expert_idx + segments[:, None] * m
        flat_idx = rows.reshape(-1)
        num = 1 if segments is None else num_segments
        # counts on the device (a scatter-add; bincount would read its maximum on the host)
        counts = torch.zeros(num * m, dtype=torch.long, device=probs.device)
        counts = counts.scatter_add_(0, flat_idx, torch.ones_like(flat_idx)).view(num, m)
        # each token makes k assignments: the token count of an input is its counts' sum / k
        assigned = counts.sum(1, keepdim=True).to(probs.dtype)
        frac = counts.to(probs.dtype) / assigned.clamp_min(1)
        if segments is None:
            mean_probs = probs.mean(dim=0, keepdim=True) if probs.shape[0] else probs.sum(0) * 0.0
        else:
            summed = probs.new_zeros(num, m).index_add_(0, segments, probs)
            mean_probs = summed / (assigned / k).clamp_min(1)
        loss = m * (frac * mean_probs).sum(-1)
        if segments is None:
            return loss[0], counts[0]
        return loss, counts

    def _dispatch(
        self,
        x: torch.Tensor,
        gate_vals: torch.Tensor,
        expert_idx: torch.Tensor,
        counts: torch.Tensor,
    ) -> torch.Tensor:
        """The experts' gated outputs for the rows ``x`` (``N x C``) routed to ``expert_idx``."""
        num_tokens, k = x.shape[0], self.top_k
        if num_tokens == 0:
            return x
        flat_idx = expert_idx.reshape(-1)
        # Sort assignments by expert so each expert sees one contiguous slice.
        order = torch.argsort(flat_idx, stable=True)
        if k == 1:
            inv = torch.empty_like(order)
            inv[order] = torch.arange(num_tokens, device=order.device)
            x_sorted = Permute.apply(x, order, inv, 0)
        else:
            token_of = order // k
            x_sorted = x.index_select(0, token_of)
        if self.use_grouped_mm(x):
            y_sorted = self._experts_grouped(x_sorted, flat_idx.index_select(0, order), counts)
        else:
            y_sorted = self._experts_loop(x_sorted, counts)
        y_sorted = y_sorted * gate_vals.reshape(-1)[order].unsqueeze(-1).to(y_sorted.dtype)
        if k == 1:
            return Permute.apply(y_sorted, inv, order, 0)
        return y_sorted.new_zeros(num_tokens, y_sorted.shape[-1]).index_add(0, token_of, y_sorted)

    def _experts_grouped(
        self, x_sorted: torch.Tensor, sorted_idx: torch.Tensor, counts: torch.Tensor
    ) -> torch.Tensor:
        """Every expert on its slice of the sorted rows, by two grouped products."""
        if torch.compiler.is_compiling():
            mm = lambda a, b, offs: traced_grouped_mm(a, b, offs)  # noqa: E731
        else:
            mm = _grouped_mm_fn()
        dtype = _compute_dtype(x_sorted)
        offs = counts.cumsum(0).to(torch.int32)
        fc1, fc2 = self.experts.fc1, self.experts.fc2
        # idle experts take part too (empty slices): their gradients are zeros, not None
        h = mm(_aligned(x_sorted.to(dtype)), _aligned(fc1.weight.to(dtype)).mT, offs=offs)
        h = _ContiguousGrad.apply(h) + fc1.bias.to(dtype).index_select(0, sorted_idx)
        h = self.experts.drop(F.gelu(h))
        y = mm(_aligned(h), _aligned(fc2.weight.to(dtype)).mT, offs=offs)
        y = _ContiguousGrad.apply(y) + fc2.bias.to(dtype).index_select(0, sorted_idx)
        return self.experts.drop(y)

    def _experts_loop(self, x_sorted: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """The same function as :meth:`_experts_grouped`, one expert at a time (host counts)."""
        fc1, fc2, drop = self.experts.fc1, self.experts.fc2, self.experts.drop
        sizes = counts.tolist()
        plain = x_sorted.dtype == fc1.weight.dtype and not torch.is_autocast_enabled(
            x_sorted.device.type
        )
        if plain and not (drop.p > 0 and self.training):
            return _ExpertsLoop.apply(x_sorted, fc1.weight, fc1.bias, fc2.weight, fc2.bias, sizes)
        chunks = torch.split(x_sorted, sizes)
        # Experts without tokens still run (on 0 rows): their gradients are zeros instead of
        # None, so DistributedDataParallel needs no find_unused_parameters.
        return torch.cat(
            [
                drop(linear(drop(F.gelu(linear(c, fc1.weight[e], fc1.bias[e]))), *_e(fc2, e)))
                for e, c in enumerate(chunks)
            ]
        )

    def _experts_dense(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Every expert on every token, summed with ``weights`` (``N x M``): the function of
        the sorted dispatch without data-dependent shapes."""
        fc1, fc2, drop = self.experts.fc1, self.experts.fc2, self.experts.drop
        h = drop(F.gelu(torch.einsum('nc,mhc->mnh', x, fc1.weight) + fc1.bias[:, None]))
        y = drop(torch.einsum('mnh,mch->mnc', h, fc2.weight) + fc2.bias[:, None])
        return torch.einsum('nm,mnc->nc', weights.to(y.dtype), y)

    # statistics of the last forward of the model --------------------------------------------
    def __getstate__(self) -> dict:
        # Recorded losses belong to a graph: deepcopy (EMA teacher) and pickling skip them.
        state = dict(super().__getstate__())
        state['_records'] = []
        return state

    def reset_stats(self) -> None:
        self._records = []

    def record(self, loss: torch.Tensor, counts: torch.Tensor) -> None:
        self._records.append((loss, counts.detach()))

    def aux_loss(self) -> torch.Tensor:
        """Sum of the balance losses recorded since :meth:`reset_stats` (one per call)."""
        if not self._records:
            return self.gate.weight.new_zeros(())
        return torch.stack([r[0] for r in self._records]).sum()

    def expert_load(self, calls: slice | None = None) -> torch.Tensor:
        """Fraction of token assignments per expert over the recorded calls (``M``), or over
        the calls ``calls`` of them."""
        records = self._records if calls is None else self._records[calls]
        if not records:
            return self.gate.weight.new_zeros(self.num_experts, dtype=torch.float32)
        counts = torch.stack([r[1] for r in records]).sum(0).float()
        return counts / counts.sum().clamp(min=1)

    def extra_repr(self) -> str:
        return (
            f'embed_dims={self.embed_dims}, hidden_dims={self.hidden_dims}, '
            f'num_experts={self.num_experts}, top_k={self.top_k}, dispatch={self.dispatch!r}'
        )


def _e(lin: StackedLinear, e: int) -> tuple[torch.Tensor, torch.Tensor]:
    return lin.weight[e], lin.bias[e]


class _ExpertsLoop(torch.autograd.Function):
    """``fc2_e(gelu(fc1_e(x_e)))`` of each expert ``e`` on its slice ``x_e`` of the sorted rows
    (``sizes``), with a gradient that writes each expert's weight gradient into its row of
    the stacked gradients. Through autograd, each expert's indexed weight ``w[e]`` made a
    zero-filled whole-layer gradient and added it up (16 layer-sized fills and adds a step of
    the tiny pretraining). Without dropout (the experts' ``drop`` off or in eval) and autocast
    (its backward would see the forward's dtypes without the cast)."""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, sizes):
        pre, outs = [], []
        for e, xe in enumerate(x.split(sizes)):
            h = linear(xe, w1[e], b1[e])
            pre.append(h)
            outs.append(linear(F.gelu(h), w2[e], b2[e]))
        pre = torch.cat(pre)
        ctx.save_for_backward(x, pre, w1, w2)
        ctx.sizes = sizes
        return torch.cat(outs)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, pre, w1, w2 = ctx.saved_tensors
        sizes = ctx.sizes
        grad = grad.contiguous()
        gx = torch.empty_like(x)
        gw1, gb1 = torch.empty_like(w1), w1.new_empty(w1.shape[:2])
        gw2, gb2 = torch.empty_like(w2), w2.new_empty(w2.shape[:2])
        start = 0
        for e, n in enumerate(sizes):
            rows = slice(start, start + n)
            start += n
            gy, h = grad[rows], pre[rows]
            act = F.gelu(h)  # recomputed: saving it too would double the saved activations
            # dW = g^T a, made in the weight's layout (a transposed result would be copied
            # back element by element); an idle expert's is the empty product's zeros
            gw2[e] = linear(gy.t(), act.t())
            gb2[e] = gy.sum(0)
            gh = torch.ops.aten.gelu_backward(linear(gy, w2[e].t()), h)
            gw1[e] = linear(gh.t(), x[rows].t())
            gb1[e] = gh.sum(0)
            gx[rows] = linear(gh, w1[e].t())
        return gx, gw1, gb1, gw2, gb2, None


def _aligned(t: torch.Tensor) -> torch.Tensor:
    """``t``, copied when its data does not start on a 16-byte boundary (the grouped kernels
    require it; a view into a gathered buffer, e.g. FSDP's, need not). Under ``torch.compile``
    there is no address to test: the compiler's buffers are aligned, and so are parameters."""
    if torch.compiler.is_compiling():
        return t
    return t if t.data_ptr() % 16 == 0 else t.clone()


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype the experts compute in: autocast's where it is on (autocast does not cast the
    grouped product), else the input's."""
    device = x.device.type
    if device in ('cpu', 'cuda') and torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return x.dtype
