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

from ..utils.precision import float32_region


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


def check_labels(labels: Tensor, num_classes: int, ignore_index: int = 255) -> None:
    """Raise a ValueError naming ``osm_label`` when a label is neither a class index in
    ``[0, num_classes)`` nor ``ignore_index`` (it reads the values: call it on host tensors)."""
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        raise ValueError(
            f'ITALoss: `osm_label` has values {labels[bad].unique().tolist()} '
            f'outside [0, {num_classes}) and not {ignore_index}'
        )


def downsample_labels(
    labels: Tensor,
    size: Sequence[int],
    num_classes: int,
    ignore_index: int = 255,
    min_fraction: float = 0.5,
    check: bool = True,
) -> Tensor:
    """Majority label of each token's footprint; ``ignore_index`` where labelled pixels cover
    less than ``min_fraction`` of it (ties: the smallest class index).

    The votes are counted by one scatter-add of the labelled pixels into ``N x h x w x K`` bins,
    without a one-hot copy of the labels at image resolution.

    Args:
        labels: ``N x H x W`` long; size: ``(h, w)`` target grid (H, W multiples of it).
        check: check the label values first (:func:`check_labels`, a host read); a caller that
            checked them on the host before they reached the device passes False.
    """
    n, h_in, w_in = labels.shape
    h, w = size
    if h_in % h or w_in % w:
        raise ValueError(
            f'downsample_labels: label raster {h_in}x{w_in} is not a multiple of '
            f'the feature grid {h}x{w}'
        )
    if check:
        check_labels(labels, num_classes, ignore_index)
    fh, fw = h_in // h, w_in // w
    device = labels.device
    labelled = labels != ignore_index
    # the token of each pixel, then the bin (sample, token, class) of each labelled pixel
    token = (torch.arange(h_in, device=device) // fh)[:, None] * w + (
        torch.arange(w_in, device=device) // fw
    )[None]
    sample = torch.arange(n, device=device)[:, None, None] * (h * w)
    bins = (sample + token) * num_classes + torch.where(labelled, labels, 0)
    votes = torch.zeros(n * h * w * num_classes, dtype=torch.int32, device=device)
    votes.index_add_(0, bins.reshape(-1), labelled.reshape(-1).to(torch.int32))
    votes = votes.view(n, h, w, num_classes)
    frac = votes.sum(-1).float() / (fh * fw)
    out = votes.argmax(-1)
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

    ``check_inputs`` (True): check the label values in ``forward`` (a host read). The pretraining
    algorithm switches it off and checks each batch on the host, before it is moved to the
    device (``ITAHead.check_batch``).
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
        self.check_inputs = True
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
            check=self.check_inputs,
        )
        with float32_region(pixel_feats):  # cosine logits over a small temperature
            f = F.normalize(pixel_feats.float(), dim=1)
            logits = torch.einsum('ndhw,kd->nkhw', f, self.text_embeddings) / self.temperature
        keep = target != self.ignore_index
        # the mean over labelled tokens, as a sum over a clamped count: 0 (with a graph) when no
        # token is labelled, and no branch on the count
        count = keep.sum().clamp_min(1)
        ce = F.cross_entropy(logits, target, ignore_index=self.ignore_index, reduction='sum')
        loss = ce / count
        acc = ((logits.argmax(1) == target) & keep).sum() / count
        return dict(loss_ita=loss, ita_acc=acc.detach().float())
