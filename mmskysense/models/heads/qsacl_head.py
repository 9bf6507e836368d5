"""Query-based Semantic Aggregation Contrastive Learning head (QSACL), paper section 3.2, eq. 3-4.

m learnable queries aggregate each view's fused features F_fus (``QueryAggregation``, one
transformer decoder layer); a DINO head H maps each aggregated query to K outputs. The loss
(``QSACLLoss``) pairs every global with every local view, query by query, in both directions,
the teacher's H' giving the targets. The head owns the aggregation, H and the loss.
"""

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmskysense.registry import MODELS
from mmskysense.structures import GROUPS, EncodedViews


@MODELS.register_module()
class QSACLHead(BaseModule):
    """QSACL's query aggregation, DINO head and loss.

    Args:
        in_dims: channels of F_fus.
        out_dims: K, the DINO head's outputs.
        aggregation: ``QueryAggregation`` config without ``embed_dims``.
        projector: ``DINOHead`` config without ``in_dims`` / ``out_dims``.
        loss: ``QSACLLoss`` config without ``out_dims``.
        init_cfg: mmengine initialisation config.
    """

    def __init__(
        self,
        in_dims: int,
        out_dims: int,
        aggregation: dict | None = None,
        projector: dict | None = None,
        loss: dict | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        aggregation = dict(dict(type='QueryAggregation'), **(aggregation or {}))
        projector = dict(dict(type='DINOHead'), **(projector or {}))
        self.projector = nn.ModuleDict(
            dict(
                aggregation=MODELS.build(dict(aggregation, embed_dims=in_dims)),
                head=MODELS.build(dict(projector, in_dims=in_dims, out_dims=out_dims)),
            )
        )
        self.loss_module = MODELS.build(
            dict(dict(type='QSACLLoss'), **(loss or {}), out_dims=out_dims)
        )

    @staticmethod
    def query_logits(
        projector: nn.ModuleDict, encoded: dict[str, EncodedViews]
    ) -> tuple[Tensor, Tensor]:
        """H(z) of every view and query, ``B x V x m x K``, for the global and the local views."""
        tokens, masks, shapes = [], [], []
        for group in GROUPS:
            fused = encoded[group].fused  # B x V x D x h x w
            shapes.append(fused.shape[:2])
            tokens.append(fused.flatten(3).transpose(2, 3).flatten(0, 1))  # N x L x D
            masks.append(encoded[group].fused_mask.flatten(0, 1).flatten(1))
        # both groups' views in one aggregation and one head call (their token counts differ:
        # the aggregation pads them)
        z = projector['aggregation'](tokens, masks)
        logits = projector['head'](torch.cat(z)).split([t.shape[0] for t in tokens])
        out = [x.unflatten(0, tuple(shape)) for x, shape in zip(logits, shapes, strict=True)]
        return out[0], out[1]

    def loss(
        self,
        student: dict[str, EncodedViews],
        teacher: dict[str, EncodedViews],
        teacher_projector: nn.ModuleDict,
        teacher_temp: float,
    ) -> dict[str, Tensor]:
        """``loss_qsacl`` (unweighted) and its two directions."""
        s_g, s_l = self.query_logits(self.projector, student)
        t_g, t_l = self.query_logits(teacher_projector, teacher)
        return self.loss_module(s_g, s_l, t_g, t_l, teacher_temp)
