"""Geo-Context Prototype Learning loss (GCPL), paper section 3.2 (from SkySense V1).

Each geographic region r keeps its own set of prototypes P_r (a buffer, ``num_regions x
num_prototypes x dims``). For the fused features F_fus of a view from region r:

* the teacher's tokens are assigned to P_r by Sinkhorn-Knopp over the whole (global) batch,
  per region, giving the target Q;
* the student predicts Q with softmax(<f_s, P_r> / T) (cross-entropy), which is where the
  gradient flows: regional context clues shape the fused features;
* P_r moves towards the Q-weighted mean of the teacher's tokens by EMA, without gradients;
  sums are reduced over data-parallel ranks so every rank keeps identical prototypes.

Nothing is read back to the host: the regions of the global batch are the gathered region ids
of every rank (the same per-rank batch size on every rank, as the samplers give), each sample's
Sinkhorn group and prototype slot is the first sample of the global batch with its region, and
the prototypes enter as one ``B x P x D`` copy per step (not one per token).
"""

import torch
import torch.nn.functional as F
from mmengine import dist
from torch import Tensor, nn

from mmskysense.registry import MODELS

from ..utils.precision import float32_region
from .sinkhorn_knopp import sinkhorn_knopp


def global_region_slots(region_ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The regions of the global batch, without reading them on the host.

    Args:
        region_ids: ``B`` long, this rank's samples (the same B on every rank).

    Returns:
        ``regions`` (``G = world x B``, every rank's ids in rank order), ``first`` (``G``: the
        index of the first sample of the global batch with the same region, its slot) and
        ``local`` (``B``: the slots of this rank's samples). Identical on every rank.
    """
    world = dist.get_world_size()
    regions = torch.cat(dist.all_gather(region_ids)) if world > 1 else region_ids
    same = regions[:, None] == regions[None, :]
    first = same.to(torch.int8).argmax(1)  # argmax gives the first maximal index
    offset = dist.get_rank() * region_ids.numel() if world > 1 else 0
    return regions, first, first[offset : offset + region_ids.numel()]


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

    ``check_inputs`` (True): check the region ids in ``forward`` (a host read). The pretraining
    algorithm switches it off and checks each batch on the host, before it is moved to the
    device (``GCPLHead.check_batch``).
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
        self.check_inputs = True
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
        if self.check_inputs:
            self.check_region_ids(region_ids)
        # float32 similarities, plans and means, also under a bf16 autocast
        with float32_region(student_feats):
            regions, first, slot = global_region_slots(region_ids)
            protos = self.prototypes.index_select(0, region_ids).float()  # B x P x D, this step's

            valid = mask.reshape(b * n)
            tokens_slot = slot[:, None].expand(b, n).reshape(-1)
            f_t = F.normalize(teacher_feats.detach().float(), dim=-1)  # B x N x D
            f_s = F.normalize(student_feats.float(), dim=-1)
            with torch.no_grad():
                scores_t = torch.einsum('bnd,bpd->bnp', f_t, protos).reshape(b * n, -1)
                # each region's plan over every rank's tokens of it (groups: the region slots)
                q = sinkhorn_knopp(
                    scores_t,
                    self.epsilon,
                    self.sinkhorn_iters,
                    row_mask=valid,
                    groups=tokens_slot,
                    num_groups=len(regions),
                )
            logits_s = torch.einsum('bnd,bpd->bnp', f_s, protos).reshape(b * n, -1)
            logits_s = logits_s / self.temperature
            ce = -(q * F.log_softmax(logits_s, dim=-1)).sum(-1)
            validf = valid.float()
            loss = (ce * validf).sum() / validf.sum().clamp_min(1.0)

            used = self._update_prototypes(regions, first, q.view(b, n, -1), f_t)
            return dict(loss_gcpl=loss, gcpl_used_prototypes=used)

    def check_region_ids(self, region_ids: Tensor) -> None:
        """Raise a ValueError naming ``region_id`` for ids outside ``[0, num_regions)`` (it reads
        the values: call it on host tensors)."""
        region_ids = torch.as_tensor(region_ids).reshape(-1)
        if (region_ids < 0).any() or (region_ids >= self.num_regions).any():
            raise ValueError(
                f'GCPLLoss: `region_id` values {region_ids.tolist()} outside '
                f'[0, {self.num_regions}) (num_regions)'
            )

    @torch.no_grad()
    def _update_prototypes(self, regions: Tensor, first: Tensor, q: Tensor, f_t: Tensor) -> Tensor:
        """EMA of each region's prototypes towards the plan-weighted means of its tokens on every
        rank; returns the fraction of the batch regions' prototypes that received tokens."""
        sums = torch.einsum('bnp,bnd->bpd', q, f_t)  # B x P x D, this rank's samples
        mass = q.sum(1)  # B x P
        if dist.get_world_size() > 1:
            sums, mass = torch.cat(dist.all_gather(sums)), torch.cat(dist.all_gather(mass))
        # the samples of one region are summed into its slot (the first of them)
        sums = torch.zeros_like(sums).index_add_(0, first, sums)
        mass = torch.zeros_like(mass).index_add_(0, first, mass)
        has = mass > 1e-6
        means = F.normalize(sums / mass.clamp_min(1e-6).unsqueeze(-1), dim=-1)
        old = self.prototypes.index_select(0, regions).float()
        new = F.normalize(self.momentum * old + (1 - self.momentum) * means, dim=-1)
        new = torch.where(has.unsqueeze(-1), new, old)
        # every sample of a region writes its slot's value: repeated indices write equal rows
        new = new.index_select(0, first).to(self.prototypes.dtype)
        self.prototypes.index_copy_(0, regions, new)
        is_slot = first == torch.arange(len(first), device=first.device)
        return (has & is_slot[:, None]).sum() / (is_slot.sum() * has.shape[1])
