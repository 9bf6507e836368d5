"""Geo-Context Prototype Learning head (GCPL), paper section 3.2 (from SkySense V1).

F_fus of the global views is projected into the prototype space; ``GCPLLoss`` assigns the
teacher's tokens to their region's prototypes by Sinkhorn-Knopp, trains the student to predict
the assignment and moves the prototypes by EMA. The head owns the projection and the loss.
"""

from mmengine.model import BaseModule
from torch import Tensor, nn

from mmskysense.registry import MODELS
from mmskysense.structures import EncodedViews, PretrainBatch


def _tokens(fused: Tensor) -> Tensor:
    """``B x V x D x h x w`` -> ``B x (V h w) x D``."""
    return fused.permute(0, 1, 3, 4, 2).flatten(1, 3)


@MODELS.register_module()
class GCPLHead(BaseModule):
    """GCPL's projection and loss.

    Args:
        in_dims: channels of F_fus.
        dims: the prototypes' dimension (the projection's output).
        loss: ``GCPLLoss`` config without ``dims``.
        init_cfg: mmengine initialisation config.
    """

    def __init__(
        self, in_dims: int, dims: int, loss: dict | None = None, init_cfg: dict | None = None
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.projector = nn.Linear(in_dims, dims)
        self.loss_module = MODELS.build(dict(dict(type='GCPLLoss'), **(loss or {}), dims=dims))

    def check_batch(self, batch: PretrainBatch) -> None:
        """The value checks of the loss, on the host batch before it is moved to the device."""
        self.loss_module.check_region_ids(batch.region_id)

    def loss(
        self,
        student: dict[str, EncodedViews],
        teacher: dict[str, EncodedViews],
        batch: PretrainBatch,
        teacher_projector: nn.Module,
    ) -> dict[str, Tensor]:
        """``loss_gcpl`` (unweighted) and the fraction of used prototypes, on the global views."""
        s, t = student['global_views'], teacher['global_views']
        return self.loss_module(
            self.projector(_tokens(s.fused)),
            teacher_projector(_tokens(t.fused)),
            s.fused_mask.flatten(1),
            batch.region_id,
        )
