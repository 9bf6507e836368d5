"""Dense Image-Text Alignment loss (ITA), paper section 3.2 and eq. 5 (lambda_2).

Per-pixel features, projected into the text space, are classified by their cosine similarity to
fixed text embeddings of the OpenStreetMap class names, supervised by the OSM label raster
(``255`` = unlabelled, ignored). The embeddings come from a file the user supplies
(``tools/misc/gen_text_embeddings.py`` writes one with a text encoder).

File format: a ``torch.save``'d dict ``dict(class_names=[str, ...], embeddings=Tensor[K, D])``
(row k is the embedding of class k, i.e. of label value k).
"""

import os.path as osp
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmskysense.registry import MODELS


def load_text_embeddings(path: str) -> dict[str, object]:
    """Reads and checks a text-embedding file (see the module docstring)."""
    if not isinstance(path, str) or not osp.isfile(path):
        raise FileNotFoundError(
            f'ITALoss: `text_embeddings` file {path!r} does not exist; write one with '
            'tools/misc/gen_text_embeddings.py'
        )
    data = torch.load(path, map_location='cpu', weights_only=False)
    if not isinstance(data, dict) or 'embeddings' not in data:
        raise ValueError(f'ITALoss: {path} must hold a dict with key `embeddings` (K x D)')
    emb = torch.as_tensor(data['embeddings']).float()
    if emb.dim() != 2:
        raise ValueError(f'ITALoss: `embeddings` in {path} must be K x D, got {tuple(emb.shape)}')
    names = list(data.get('class_names', [str(i) for i in range(emb.shape[0])]))
    if len(names) != emb.shape[0]:
        raise ValueError(
            f'ITALoss: {path} has {len(names)} `class_names` for {emb.shape[0]} embeddings'
        )
    return dict(class_names=names, embeddings=emb)


def downsample_labels(
    labels: Tensor,
    size: Sequence[int],
    num_classes: int,
    ignore_index: int = 255,
    min_fraction: float = 0.5,
) -> Tensor:
    """Majority label of each token's footprint; ``ignore_index`` where labelled pixels cover
    less than ``min_fraction`` of it.

    Args:
        labels: ``N x H x W`` long; size: ``(h, w)`` target grid (H, W multiples of it).
    """
    n, h_in, w_in = labels.shape
    h, w = size
    if h_in % h or w_in % w:
        raise ValueError(
            f'downsample_labels: label raster {h_in}x{w_in} is not a multiple of '
            f'the feature grid {h}x{w}'
        )
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        raise ValueError(
            f'ITALoss: `osm_label` has values {labels[bad].unique().tolist()} '
            f'outside [0, {num_classes}) and not {ignore_index}'
        )
    labelled = labels != ignore_index
    onehot = F.one_hot(torch.where(labelled, labels, 0), num_classes).float()
    onehot = onehot * labelled.unsqueeze(-1).float()
    counts = F.avg_pool2d(onehot.permute(0, 3, 1, 2), (h_in // h, w_in // w))  # N x K x h x w
    frac = counts.sum(1)
    out = counts.argmax(1)
    return torch.where(frac >= min_fraction, out, torch.full_like(out, ignore_index))


@MODELS.register_module()
class ITALoss(nn.Module):
    """Dense image-text alignment: cross-entropy of cosine logits against OSM class texts.

    Args:
        text_embeddings: path of the embedding file (see module docstring).
        temperature: softmax temperature of the cosine logits (CLIP's 0.07 by default).
        ignore_index: label value of unlabelled pixels.
        min_label_fraction: a token is supervised when labelled pixels cover at least this
            fraction of its footprint.
        num_classes: optional check against the file's K.
    """

    def __init__(
        self,
        text_embeddings: str,
        temperature: float = 0.07,
        ignore_index: int = 255,
        min_label_fraction: float = 0.5,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        data = load_text_embeddings(text_embeddings)
        emb = data['embeddings']
        if num_classes is not None and emb.shape[0] != num_classes:
            raise ValueError(
                f'ITALoss: `num_classes`={num_classes} but {text_embeddings} has '
                f'{emb.shape[0]} embeddings'
            )
        self.class_names = data['class_names']
        self.temperature = temperature
        self.ignore_index = ignore_index
        self.min_label_fraction = min_label_fraction
        # fixed targets: a buffer, not a parameter, and kept out of checkpoints
        self.register_buffer('text_embeddings', F.normalize(emb, dim=-1), persistent=False)

    @property
    def text_dims(self) -> int:
        return self.text_embeddings.shape[1]

    def forward(self, pixel_feats: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Args:
            pixel_feats: ``N x D x h x w`` features already projected to the text space.
            labels: ``N x H x W`` OSM labels at image resolution.

        Returns:
            ``loss_ita`` (unweighted; 0 with a graph when no token is labelled) and ``ita_acc``.
        """
        if pixel_feats.dim() != 4 or pixel_feats.shape[1] != self.text_dims:
            raise ValueError(
                f'ITALoss: `pixel_feats` must be N x {self.text_dims} x h x w, '
                f'got {tuple(pixel_feats.shape)}'
            )
        if labels.dim() != 3 or labels.shape[0] != pixel_feats.shape[0]:
            raise ValueError(
                f'ITALoss: `osm_label` must be N x H x W with N='
                f'{pixel_feats.shape[0]}, got {tuple(labels.shape)}'
            )
        target = downsample_labels(
            labels.long(),
            pixel_feats.shape[-2:],
            self.text_embeddings.shape[0],
            self.ignore_index,
            self.min_label_fraction,
        )
        f = F.normalize(pixel_feats.float(), dim=1)
        logits = torch.einsum('ndhw,kd->nkhw', f, self.text_embeddings) / self.temperature
        keep = target != self.ignore_index
        if not keep.any():
            zero = logits.sum() * 0.0
            return dict(loss_ita=zero, ita_acc=zero.detach())
        loss = F.cross_entropy(logits, target, ignore_index=self.ignore_index)
        acc = (logits.argmax(1) == target)[keep].float().mean()
        return dict(loss_ita=loss, ita_acc=acc.detach())
