"""Geo-Context Prototype Learning loss (GCPL), paper section 3.2 (from SkySense V1).

Each geographic region r keeps its own set of prototypes P_r (a buffer, ``num_regions x
num_prototypes x dims``). For the fused features F_fus of a view from region r:

* the teacher's tokens are assigned to P_r by Sinkhorn-Knopp over the whole (global) batch,
  per region, giving the target Q;
* the student predicts Q with softmax(<f_s, P_r> / T) (cross-entropy), which is where the
  gradient flows: regional context clues shape the fused features;
* P_r moves towards the Q-weighted mean of the teacher's tokens by EMA, without gradients;
  sums are reduced over data-parallel ranks so every rank keeps identical prototypes.
"""

import torch
import torch.nn.functional as F
from mmengine import dist
from torch import Tensor, nn

from mmskysense.registry import MODELS

from .sinkhorn_knopp import sinkhorn_knopp


def _regions_in_global_batch(region_ids: Tensor) -> Tensor:
    """Sorted union of the region ids of every rank (identical on all ranks)."""
    local = torch.unique(region_ids).tolist()
    if dist.get_world_size() > 1:
        gathered: list[list[int]] = dist.all_gather_object(local)
        local = sorted({r for ids in gathered for r in ids})
    return torch.tensor(sorted(local), dtype=torch.long, device=region_ids.device)


@MODELS.register_module()
class GCPLLoss(nn.Module):
    """GCPL with region-specific prototypes assigned by Sinkhorn-Knopp and updated by EMA.

    Args:
        num_regions: number of geographic regions (``region_id`` must be below it).
        num_prototypes: prototypes per region.
        dims: feature dimension.
        temperature: student softmax temperature over prototypes.
        epsilon: Sinkhorn-Knopp regularisation.
        sinkhorn_iters: Sinkhorn-Knopp iterations.
        momentum: EMA momentum of the prototype update.
    """

    def __init__(
        self,
        num_regions: int,
        num_prototypes: int,
        dims: int,
        temperature: float = 0.1,
        epsilon: float = 0.05,
        sinkhorn_iters: int = 3,
        momentum: float = 0.99,
    ) -> None:
        super().__init__()
        for name, value in (
            ('num_regions', num_regions),
            ('num_prototypes', num_prototypes),
            ('dims', dims),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'GCPLLoss: `{name}` must be a positive int, got {value!r}')
        self.num_regions = num_regions
        self.num_prototypes = num_prototypes
        self.temperature = temperature
        self.epsilon = epsilon
        self.sinkhorn_iters = sinkhorn_iters
        self.momentum = momentum
        # a fixed seed gives every data-parallel rank the same initial prototypes
        gen = torch.Generator().manual_seed(0)
        self.register_buffer(
            'prototypes',
            F.normalize(
                torch.randn(num_regions, num_prototypes, dims, generator=gen, device='cpu'), dim=-1
            ),
        )

    def forward(
        self, student_feats: Tensor, teacher_feats: Tensor, mask: Tensor, region_ids: Tensor
    ) -> dict[str, Tensor]:
        """Args:
            student_feats, teacher_feats: ``B x N x D`` fused tokens of the same views.
            mask: ``B x N`` bool, valid tokens.
            region_ids: ``B`` long, the region of each sample.

        Returns:
            ``loss_gcpl`` (unweighted) and ``gcpl_used_prototypes`` (fraction of the batch
            regions' prototypes that received tokens, for monitoring collapse).
        """
        if student_feats.dim() != 3 or student_feats.shape != teacher_feats.shape:
            raise ValueError(
                'GCPLLoss: `student_feats` and `teacher_feats` must be equal '
                f'B x N x D, got {tuple(student_feats.shape)} and '
                f'{tuple(teacher_feats.shape)}'
            )
        b, n, d = student_feats.shape
        if d != self.prototypes.shape[-1]:
            raise ValueError(
                f'GCPLLoss: features have {d} dims, prototypes {self.prototypes.shape[-1]}'
            )
        region_ids = torch.as_tensor(region_ids, device=student_feats.device).long().reshape(-1)
        if region_ids.numel() != b:
            raise ValueError(
                f'GCPLLoss: `region_ids` has {region_ids.numel()} entries for a batch of {b}'
            )
        if (region_ids < 0).any() or (region_ids >= self.num_regions).any():
            raise ValueError(
                f'GCPLLoss: `region_id` values {region_ids.tolist()} outside '
                f'[0, {self.num_regions}) (num_regions)'
            )
        regions = _regions_in_global_batch(region_ids)  # U, same on every rank
        slot = torch.searchsorted(regions, region_ids)  # B: position of each sample's region
        protos = self.prototypes[regions].clone()  # U x P x D, a snapshot for this step

        tokens_slot = slot[:, None].expand(b, n).reshape(-1)
        valid = mask.reshape(-1)
        f_t = F.normalize(teacher_feats.detach().float().reshape(b * n, d), dim=-1)
        f_s = F.normalize(student_feats.float().reshape(b * n, d), dim=-1)
        p_tok = protos[tokens_slot]  # BN x P x D
        with torch.no_grad():
            scores_t = torch.einsum('nd,npd->np', f_t, p_tok)
            q = sinkhorn_knopp(
                scores_t,
                self.epsilon,
                self.sinkhorn_iters,
                row_mask=valid,
                groups=tokens_slot,
                num_groups=len(regions),
            )
        logits_s = torch.einsum('nd,npd->np', f_s, p_tok) / self.temperature
        ce = -(q * F.log_softmax(logits_s, dim=-1)).sum(-1)
        validf = valid.float()
        loss = (ce * validf).sum() / validf.sum().clamp_min(1.0)

        used = self._update_prototypes(regions, tokens_slot, q, f_t)
        return dict(loss_gcpl=loss, gcpl_used_prototypes=used)

    @torch.no_grad()
    def _update_prototypes(
        self, regions: Tensor, tokens_slot: Tensor, q: Tensor, f_t: Tensor
    ) -> Tensor:
        u, p, d = len(regions), self.num_prototypes, f_t.shape[-1]
        sums = f_t.new_zeros(u, p, d)
        sums.index_add_(0, tokens_slot, q.unsqueeze(-1) * f_t.unsqueeze(1))
        mass = f_t.new_zeros(u, p)
        mass.index_add_(0, tokens_slot, q)
        if dist.get_world_size() > 1:
            dist.all_reduce(sums, op='sum')
            dist.all_reduce(mass, op='sum')
        has = mass > 1e-6
        means = F.normalize(sums / mass.clamp_min(1e-6).unsqueeze(-1), dim=-1)
        old = self.prototypes[regions].float()
        new = F.normalize(self.momentum * old + (1 - self.momentum) * means, dim=-1)
        new = torch.where(has.unsqueeze(-1), new, old)
        self.prototypes[regions] = new.to(self.prototypes.dtype)
        return has.float().mean()
