"""Mixture of Experts FFN (SkySense V2, section 3.1.3, eq. 2).

    MOE(x) = sum_{i in T} G_i(x) * E_i(x),    G(x) = Softmax(W x),    T = top-k indices of G(x)

M experts of the FFN's shape replace the FFN of the last L blocks (paper: L = 6, M = 8, k = 1).

Dispatch: tokens are sorted by their expert, each expert runs once on its contiguous slice
(a loop over the M experts, never over tokens), and the results are put back in token order.
For top-1 the sort is a permutation, so both moves (and their gradients) are row gathers; no
scatter-add is needed.

Load balancing (Switch Transformer, Fedus et al. 2021, eq. 4):

    loss = M * sum_i f_i * P_i

with f_i the fraction of token assignments routed to expert i and P_i the mean gate probability
of expert i over the tokens. f_i is also exposed as the per-expert load.
"""

import torch
import torch.nn as nn

from mmskysense.registry import MODELS

from .feed_forward import FeedForward


class _PermuteRows(torch.autograd.Function):
    """``x[perm]`` whose gradient is the gather ``grad[inv]`` (``inv`` = inverse of ``perm``)
    instead of the scatter-add autograd would use for a general index."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, perm: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(inv)
        return x.index_select(0, perm)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (inv,) = ctx.saved_tensors
        return grad.index_select(0, inv), None, None


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
    """

    def __init__(
        self,
        embed_dims: int,
        hidden_dims: int,
        num_experts: int = 8,
        top_k: int = 1,
        drop: float = 0.0,
    ) -> None:
        super().__init__()
        if num_experts < 1:
            raise ValueError(f'MixtureOfExperts: num_experts must be >= 1, got {num_experts}')
        if not 1 <= top_k <= num_experts:
            raise ValueError(
                f'MixtureOfExperts: top_k must be in [1, num_experts={num_experts}], got {top_k}'
            )
        self.embed_dims = embed_dims
        self.hidden_dims = hidden_dims
        self.num_experts = num_experts
        self.top_k = top_k
        # G(x) = Softmax(W x): no bias, as eq. 2.
        self.gate = nn.Linear(embed_dims, num_experts, bias=False)
        self.experts = nn.ModuleList(
            [FeedForward(embed_dims, hidden_dims, drop) for _ in range(num_experts)]
        )
        self._records: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in [self.gate] + [m for e in self.experts for m in (e.fc1, e.fc2)]:
            nn.init.trunc_normal_(lin.weight, std=0.02)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gate probabilities ``N x M``, top-k gate values and expert indices ``N x k``."""
        # Softmax in float32: gate values multiply the expert outputs and enter the balance loss.
        probs = self.gate(x).float().softmax(dim=-1)
        gate_vals, expert_idx = probs.topk(self.top_k, dim=-1)
        return probs, gate_vals, expert_idx

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Apply eq. 2 to the tokens ``x`` (``... x C``).

        Returns:
            output of the shape of ``x``; the Switch balance loss (scalar); the number of token
            assignments per expert (``M``, long).
        """
        if x.shape[-1] != self.embed_dims:
            raise ValueError(
                f'MixtureOfExperts: expected last dim {self.embed_dims} (embed_dims), '
                f'got shape {tuple(x.shape)}'
            )
        shape = x.shape
        x = x.reshape(-1, self.embed_dims)
        num_tokens, k = x.shape[0], self.top_k
        probs, gate_vals, expert_idx = self.route(x)
        counts = torch.bincount(expert_idx.reshape(-1), minlength=self.num_experts)
        frac = counts.to(probs.dtype) / max(num_tokens * k, 1)
        loss = (
            self.num_experts * (frac * probs.mean(dim=0)).sum()
            if num_tokens > 0
            else probs.sum() * 0.0
        )
        if num_tokens == 0:
            return x.reshape(shape), loss, counts

        # Sort assignments by expert so each expert sees one contiguous slice.
        order = torch.argsort(expert_idx.reshape(-1), stable=True)
        if k == 1:
            inv = torch.empty_like(order)
            inv[order] = torch.arange(num_tokens, device=order.device)
            x_sorted = _PermuteRows.apply(x, order, inv)
        else:
            token_of = order // k
            x_sorted = x.index_select(0, token_of)
        chunks = torch.split(x_sorted, counts.tolist())
        # Experts without tokens still run (on 0 rows): their gradients are zeros instead of
        # None, so DistributedDataParallel needs no find_unused_parameters.
        y_sorted = torch.cat([expert(chunk) for expert, chunk in zip(self.experts, chunks)])
        y_sorted = y_sorted * gate_vals.reshape(-1)[order].unsqueeze(-1).to(y_sorted.dtype)
        if k == 1:
            out = _PermuteRows.apply(y_sorted, inv, order)
        else:
            out = y_sorted.new_zeros(num_tokens, y_sorted.shape[-1]).index_add(
                0, token_of, y_sorted
            )
        return out.reshape(shape), loss, counts

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

    def expert_load(self) -> torch.Tensor:
        """Fraction of token assignments per expert over the recorded calls (``M``)."""
        if not self._records:
            return self.gate.weight.new_zeros(self.num_experts, dtype=torch.float32)
        counts = torch.stack([r[1] for r in self._records]).sum(0).float()
        return counts / counts.sum().clamp(min=1)

    def extra_repr(self) -> str:
        return (
            f'embed_dims={self.embed_dims}, hidden_dims={self.hidden_dims}, '
            f'num_experts={self.num_experts}, top_k={self.top_k}'
        )
