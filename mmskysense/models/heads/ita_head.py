"""Dense Image-Text Alignment head (ITA), paper section 3.2 and eq. 5 (lambda_2).

F_fus of every view is projected into the space of the OSM class-name text embeddings;
``ITALoss`` classifies each token by cosine similarity against them, supervised by the views'
OSM label rasters (``osm_label``, 255 = unlabelled). Only the student takes part. The head owns
the projection (sized by the embedding file) and the loss.
"""

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmskysense.registry import MODELS
from mmskysense.structures import GROUPS, EncodedViews, PretrainBatch

from ..losses.ita import check_labels


@MODELS.register_module()
class ITAHead(BaseModule):
    """ITA's projection and loss.

    Args:
        in_dims: channels of F_fus.
        loss: ``ITALoss`` config (it names the text-embedding file, whose width sizes the
            projection).
        init_cfg: mmengine initialisation config.
    """

    def __init__(self, in_dims: int, loss: dict, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.loss_module = MODELS.build(dict(dict(type='ITALoss'), **loss))
        self.projector = nn.Linear(in_dims, self.loss_module.text_dims)

    def check_batch(self, batch: PretrainBatch) -> None:
        """The value checks of the loss, on the host batch before it is moved to the device."""
        lm = self.loss_module
        for _, views in batch.groups():
            if views.osm_label is not None:
                check_labels(views.osm_label, lm.text_embeddings.shape[0], lm.ignore_index)

    def loss(self, student: dict[str, EncodedViews], batch: PretrainBatch) -> dict[str, Tensor]:
        """``loss_ita`` (unweighted) and ``ita_acc``, averaged over the two view groups."""
        feats, labels = [], []
        for group in GROUPS:
            fused = student[group].fused.flatten(0, 1)  # N x D x h x w
            feats.append(self.projector(fused.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
            views = getattr(batch, group)
            osm = views.osm_label
            if osm is None:  # no label raster: every pixel unlabelled
                first = next(iter(views.images.values()))
                osm = torch.full(
                    (first.shape[0] * first.shape[1], *first.shape[-2:]),
                    self.loss_module.ignore_index,
                    dtype=torch.long,
                    device=first.device,
                )
            labels.append(osm.flatten(0, 1) if views.osm_label is not None else osm)
        out: dict[str, Tensor] = {}
        for f, lab in zip(feats, labels):
            for k, v in self.loss_module(f, lab).items():
                out[k] = out.get(k, 0.0) + v / len(feats)
        return out
