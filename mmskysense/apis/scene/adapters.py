"""Model adapters: a ``TileBatch`` in, per-tile class probabilities out.

An adapter hides the model type from the loop over tiles. The dense ones here return float32
probabilities ``N x K x tile_h x tile_w`` on the CPU:

* ``SegmentorAdapter``: an mmseg segmentor over one input (a series is stacked date-major,
  ``N x (T*C) x h x w``, as ``LoadTimeSeries`` and the change-pair loaders stack it);
* ``ClassifierAdapter``: an mmpretrain classifier, its ``N x K`` scores spread over each tile;
* ``MultiModalAdapter``: a model that takes the core backbone's dict of modalities.

``DetectorAdapter`` (an mmdet / mmrotate detector) returns per-tile boxes instead,
``BackboneAdapter`` pooled features per tile (``N x C``). Each goes
through the model's own data preprocessor, so normalisation and channel conversion are the
model's; none depends on the backbone class.
"""

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .contract import is_multi_label
from .inputs import TileBatch
from .spec import SceneSpec


def _to_probs(logits: torch.Tensor, h: int, w: int, multi_label: bool = False) -> torch.Tensor:
    """``N x K x h' x w'`` segmentation logits (or ``N x K`` scores) -> ``N x K x h x w``
    probabilities (``multi_label``: scores through a sigmoid, one probability per class)."""
    if logits.dim() == 2:
        probs = logits.float().sigmoid() if multi_label else logits.float().softmax(dim=1)
        return probs.cpu()[:, :, None, None].expand(-1, -1, h, w)
    if logits.dim() != 4:
        raise ValueError(f'the model returned {tuple(logits.shape)}; expected N x K x H x W')
    logits = logits[..., :h, :w]
    if logits.shape[-2:] != (h, w):
        logits = F.interpolate(logits, size=(h, w), mode='bilinear', align_corners=False)
    return logits.float().softmax(dim=1).cpu()


#: the precisions an adapter runs its model in: float32, or bf16 autocast (matrix products and
#: convolutions in bfloat16, reductions and the softmax of the outputs in float32)
PRECISIONS = ('fp32', 'bf16')


def _precision(device: str, precision: str) -> contextlib.AbstractContextManager:
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if precision == 'fp32':
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def _stacked(batch: TileBatch, name: str) -> torch.Tensor:
    """One input as the tensor a single-input model takes: a series date-major."""
    x = torch.from_numpy(np.ascontiguousarray(batch.inputs[name]))
    if x.dim() == 5:
        x = x.flatten(1, 2)
    return x


def _metas(batch: TileBatch, name: str | None, h: int, w: int, pad: tuple) -> list[dict]:
    metas = []
    for i in range(len(batch)):
        meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=pad)
        if name is not None and name in batch.date_mask:
            meta['date_mask'] = batch.date_mask[name][i]
        metas.append(meta)
    return metas


class SegmentorAdapter:
    """An mmseg segmentor (``EncoderDecoder``, ``TemporalEncoderDecoder``, a Siamese change
    detector) over the single input of a ``TileBatch``.

    Args:
        model: the segmentor (it is put in eval mode on ``device``).
        device: where the model runs.
        name: the input to take (default: the only one).
        precision: ``'fp32'`` or ``'bf16'`` (autocast; see ``PRECISIONS``).
        channels_last: run the convolutions (the tokenizer, the decode head) on NHWC tensors.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        device: str = 'cpu',
        name: str | None = None,
        precision: str = 'fp32',
        channels_last: bool = False,
    ):
        _precision(device, precision)  # refused here, not at the first tile
        self.model = model.to(device).eval()
        self.device = device
        self.name = name
        self.precision = precision
        self.channels_last = channels_last
        if channels_last:
            self.model.to(memory_format=torch.channels_last)

    def predict_tensor(self, tiles: torch.Tensor, metas: list[dict] | None = None) -> torch.Tensor:
        """``N x C x h x w`` (any dtype) -> probabilities ``N x K x h x w``."""
        h, w = tiles.shape[-2:]
        with torch.inference_mode(), _precision(self.device, self.precision):
            data = self.model.data_preprocessor(dict(inputs=list(tiles.to(self.device))), False)
            inputs = data['inputs']
            if self.channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            if metas is None:
                metas = [dict(img_shape=(h, w), ori_shape=(h, w)) for _ in range(len(tiles))]
            for meta in metas:
                meta['pad_shape'] = tuple(inputs.shape[-2:])
            if hasattr(self.model, 'encode_decode'):
                logits = self.model.encode_decode(inputs, metas)
            else:
                logits = self.model(inputs, mode='tensor')
        return _to_probs(logits, h, w)

    def __call__(self, batch: TileBatch) -> torch.Tensor:
        name = self.name or next(iter(batch.inputs))
        x = _stacked(batch, name)
        h, w = x.shape[-2:]
        return self.predict_tensor(x, _metas(batch, name, h, w, (h, w)))


class ClassifierAdapter:
    """An mmpretrain classifier (``ImageClassifier``, ``TemporalImageClassifier``): each tile
    gets its class scores (softmax; a sigmoid per class for a multi-label head,
    ``is_multi_label``), spread over the tile, so blended tiles give a map."""

    def __init__(
        self,
        model: torch.nn.Module,
        device: str = 'cpu',
        name: str | None = None,
        multi_label: bool | None = None,
    ):
        self.model = model.to(device).eval()
        self.device = device
        self.name = name
        self.multi_label = is_multi_label(model) if multi_label is None else multi_label

    def __call__(self, batch: TileBatch) -> torch.Tensor:
        from mmpretrain.structures import DataSample

        name = self.name or next(iter(batch.inputs))
        x = _stacked(batch, name)
        h, w = x.shape[-2:]
        samples = [DataSample(metainfo=m) for m in _metas(batch, name, h, w, (h, w))]
        with torch.inference_mode():
            data = self.model.data_preprocessor(
                dict(inputs=list(x.to(self.device)), data_samples=samples), False
            )
            scores = self.model(data['inputs'], data['data_samples'], mode='tensor')
        if isinstance(scores, (tuple, list)):
            scores = scores[-1]
        return _to_probs(scores, *batch.out_valid.shape[-2:], self.multi_label)


class MultiModalAdapter:
    """A model that takes the core backbone's dict of modalities (docs/interfaces.md, the
    multi-modal model contract), given its inputs and masks in the form ``LoadMultiModalImages``
    and ``PackMultiModalInputs`` give them in training: ``inputs`` ``{name: B x C x h x w or
    B x T x C x h x w}`` float32, 0 where a pixel holds no data, standardised with the spec's
    ``norm``; metainfo ``img_shape``, ``ori_shape``, ``modality_mask`` (False for a modality
    without data in the tile, or left out), ``date_masks``, ``doy`` (0 for masked dates),
    ``valid_masks``; then ``encode_decode(inputs, metas)`` when the model has it, else
    ``model(inputs, data_samples, mode='tensor')``. A multi-label classifier's scores go
    through a sigmoid per class (``is_multi_label``). ``masked`` counts, per modality, the
    tiles it was masked in."""

    def __init__(self, model: torch.nn.Module, device: str = 'cpu', spec: SceneSpec | None = None):
        self.model = model.to(device).eval()
        self.device = device
        self.spec = spec
        self.multi_label = is_multi_label(model)
        self.masked: dict[str, int] = {}

    def _input(self, name: str, values: np.ndarray, valid: np.ndarray) -> torch.Tensor:
        # 0 where the pixel holds no data (NaN nodata included), as training's loader fills it
        x = np.where(np.expand_dims(valid, -3), values, 0).astype(np.float32)
        stats = self.spec[name].norm_stats() if self.spec and name in self.spec.names else None
        if stats is not None:
            mean, std = stats
            x -= mean[:, None, None]
            x /= std[:, None, None]
        return torch.from_numpy(x).to(self.device)

    def __call__(self, batch: TileBatch) -> torch.Tensor:
        from mmengine.structures import BaseDataElement

        h, w = batch.out_valid.shape[-2:]
        inputs = {n: self._input(n, v, batch.valid[n]) for n, v in batch.inputs.items()}
        samples = []
        for i in range(len(batch)):
            present = {n: bool(v[i].any()) for n, v in batch.valid.items()}
            for n, ok in present.items():
                if not ok:
                    self.masked[n] = self.masked.get(n, 0) + 1
            date_masks = {k: torch.from_numpy(v[i]) for k, v in batch.date_mask.items()}
            meta = dict(
                img_shape=(h, w),
                ori_shape=(h, w),
                pad_shape=(h, w),
                modality_mask=present,
                date_masks=date_masks,
                doy={k: torch.from_numpy(v) * date_masks[k] for k, v in batch.doy.items()},
                valid_masks={k: torch.from_numpy(v[i]) for k, v in batch.valid.items()},
            )
            samples.append(BaseDataElement(metainfo=meta))
        with torch.inference_mode():
            data = self.model.data_preprocessor(dict(inputs=inputs, data_samples=samples), False)
            metas = [s.metainfo for s in data['data_samples']]
            if hasattr(self.model, 'encode_decode'):
                out = self.model.encode_decode(data['inputs'], metas)
            else:
                out = self.model(data['inputs'], data['data_samples'], mode='tensor')
        return _to_probs(out, h, w, self.multi_label)


class DetectorAdapter:
    """An mmdet / mmrotate detector over the single input of a ``TileBatch``: per tile, its
    boxes in tile pixels.

    Returns a list of ``N`` ``dict(bboxes, scores, labels)`` (CPU): ``bboxes`` float32
    ``n x 4`` (``x1, y1, x2, y2``) or ``n x 5`` (mmrotate ``rbox``, angle in radians).

    Args:
        model: the detector (it is put in eval mode on ``device``).
        device: where the model runs.
        name: the input to take (default: the only one).
        reverse_channels: hand a 3-band tile over in reverse band order, the scene's RGB as the
            BGR that a model trained on OpenCV-loaded images saw (``trained_on_bgr(cfg)``).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        device: str = 'cpu',
        name: str | None = None,
        reverse_channels: bool = False,
    ):
        self.model = model.to(device).eval()
        self.device = device
        self.name = name
        self.reverse_channels = reverse_channels

    def predict_tensor(self, tiles: torch.Tensor) -> list[dict]:
        """``N x C x h x w`` (any dtype) -> ``N`` ``dict(bboxes, scores, labels)``."""
        from mmdet.structures import DetDataSample

        h, w = tiles.shape[-2:]
        if self.reverse_channels and tiles.shape[1] == 3:
            tiles = tiles.flip(1)
        # the tile is the image: no resize, so boxes come back in tile pixels
        meta = dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0))
        samples = [DetDataSample(metainfo=dict(meta)) for _ in range(len(tiles))]
        with torch.inference_mode():
            data = self.model.data_preprocessor(
                dict(inputs=list(tiles.to(self.device)), data_samples=samples), False
            )
            results = self.model.predict(data['inputs'], data['data_samples'], rescale=True)
        out = []
        for r in results:
            p = r.pred_instances
            out.append(
                dict(
                    # mmrotate's boxes are a box type holding the tensor
                    bboxes=getattr(p.bboxes, 'tensor', p.bboxes).float().cpu(),
                    scores=p.scores.float().cpu(),
                    labels=p.labels.long().cpu(),
                )
            )
        return out

    def __call__(self, batch: TileBatch) -> list[dict]:
        return self.predict_tensor(_stacked(batch, self.name or next(iter(batch.inputs))))


def pool_features(feats: Any, out_index: int = -1) -> torch.Tensor:
    """A backbone's output (a map, or a tuple / list of maps by stage) -> ``N x C`` float32 on
    the CPU: map ``out_index``, averaged over its spatial (and date) dimensions; ``N x C`` as
    it is."""
    if isinstance(feats, dict):
        raise TypeError('pass a single-modal backbone: its output is a dict of modalities')
    if isinstance(feats, (tuple, list)):
        feats = feats[out_index]
    if feats.dim() == 4:  # N x C x h x w
        feats = feats.mean(dim=(2, 3))
    elif feats.dim() == 5:  # a series: N x T x C x h x w
        feats = feats.mean(dim=(1, 3, 4))
    elif feats.dim() != 2:
        raise ValueError(f'the backbone gave {tuple(feats.shape)}; expected N x C (x h x w)')
    return feats.float().cpu()


class BackboneAdapter:
    """Pooled features per tile: ``N x C`` float32 (CPU), the mean over space (and dates) of
    the map ``out_index`` of the model's features.

    A model with ``extract_feat`` (an mmseg segmentor, an mmpretrain classifier) gets its tiles
    through its data preprocessor, then ``extract_feat``; a bare backbone
    (``SkySenseV2SingleModal``) is called on the tiles' values as float32, or on its data
    preprocessor's output when it has one.

    Args:
        model: put in eval mode on ``device``.
        device: where the model runs.
        name: the input to take (default: the only one).
        out_index: which of the model's feature maps (default: the last, the coarsest stage).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        device: str = 'cpu',
        name: str | None = None,
        out_index: int = -1,
    ):
        self.model = model.to(device).eval()
        self.device = device
        self.name = name
        self.out_index = out_index

    def predict_tensor(self, tiles: torch.Tensor) -> torch.Tensor:
        """``N x C x h x w`` (any dtype) -> ``N x C'`` features."""
        with torch.inference_mode():
            preprocessor = getattr(self.model, 'data_preprocessor', None)
            if preprocessor is not None:
                x = preprocessor(dict(inputs=list(tiles.to(self.device))), False)['inputs']
            else:
                x = tiles.to(self.device).float()
            extract = getattr(self.model, 'extract_feat', None)
            feats = extract(x) if extract is not None else self.model(x)
        return pool_features(feats, self.out_index)

    def __call__(self, batch: TileBatch) -> torch.Tensor:
        return self.predict_tensor(_stacked(batch, self.name or next(iter(batch.inputs))))


class TensorFunctionAdapter:
    """A bare function of the tiles ``N x C x h x w`` of the single input of a ``TileBatch``:
    probabilities ``N x K x h x w`` (``segment_geotiff``'s ``predict_fn``) or per-tile boxes
    (``detect_geotiff``'s)."""

    def __init__(self, fn: Callable[[torch.Tensor], Any]):
        self.fn = fn

    def __call__(self, batch: TileBatch) -> Any:
        return self.fn(_stacked(batch, next(iter(batch.inputs))))


def build_adapter(
    model: Any,
    spec: SceneSpec,
    device: str = 'cpu',
    precision: str = 'fp32',
    channels_last: bool = False,
) -> Callable:
    """The adapter for ``model``: multi-modal for several inputs (or a model that says
    ``multimodal_inputs = True``), a detector's for a model with a ``roi_head`` or a
    ``bbox_head``, a segmentor's for one with a ``decode_head``, a classifier's for one with a
    ``head``. ``precision`` and ``channels_last``: ``SegmentorAdapter``'s options (a
    ``ValueError`` for any other adapter)."""
    options = dict(precision=precision, channels_last=channels_last)
    segmentor = hasattr(model, 'decode_head') or hasattr(model, 'encode_decode')
    multimodal = len(spec.inputs) > 1 or getattr(model, 'multimodal_inputs', False)
    if (precision != 'fp32' or channels_last) and (multimodal or not segmentor):
        raise ValueError(
            f'precision={precision!r} / channels_last={channels_last} are options of a '
            f'single-input segmentor (SegmentorAdapter); {type(model).__name__} takes '
            f'{"several inputs" if multimodal else "another adapter"}'
        )
    if multimodal:
        return MultiModalAdapter(model, device, spec)
    if hasattr(model, 'roi_head') or hasattr(model, 'bbox_head'):
        # the spec's bands are in the model's order (scene_spec_from_config): no reversal
        return DetectorAdapter(model, device, spec.reference.name)
    if segmentor:
        return SegmentorAdapter(model, device, spec.reference.name, **options)
    if hasattr(model, 'head'):
        return ClassifierAdapter(model, device, spec.reference.name)
    raise TypeError(
        f'{type(model).__name__} is neither a detector (roi_head, bbox_head), a segmentor '
        '(decode_head) nor a classifier (head); pass an adapter: a callable TileBatch -> '
        'N x K x h x w probabilities (or per-tile boxes)'
    )


def segmentor_predict_fn(model: torch.nn.Module, device: str = 'cpu') -> Callable:
    """Wrap an mmseg segmentor: tiles ``N x C x h x w`` -> probabilities ``N x K x h x w``.

    The tiles go through the model's own data preprocessor, so bands must come in the order the
    model was trained with.
    """
    adapter = SegmentorAdapter(model, device)
    return adapter.predict_tensor
