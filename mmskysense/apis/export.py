"""Export a trained model to ONNX or ``torch.export`` (pt2), with its input contract.

The exported graph is the model after its data preprocessor: it takes ``N x C x tile x tile``
float32 values already standardised (``(x - mean) / std``, channels in the model's order) with a
dynamic batch axis ``N``, and gives

* a segmentor or change detector: class probabilities ``N x K x tile x tile`` (softmax), output
  ``probs``;
* a scene classifier: ``N x K`` probabilities (softmax; a sigmoid per class for a multi-label
  one), output ``probs``;
* the backbone alone (``part='backbone'``): its feature maps, outputs ``feat0``, ``feat1``, ...

What comes before the graph (the bands to read, the channel swap, the standardisation) is the
model's ``InputContract``: written into the ONNX file's metadata (the QGIS plugin Deepness's
keys, ``model_type``, ``class_names``, ``resolution``, ``tiles_size``, ``tiles_overlap``,
``standardization_mean`` / ``_std``, ``seg_thresh``, and the whole contract as JSON under
``mmskysense.input_contract``), into a pt2 archive's extra files, and beside the file as JSON
(``<out>.json``). The Mixture-of-Experts layers take their dense dispatch while tracing
(``MixtureOfExperts.use_dense``): same function, no data-dependent shape.
"""

import dataclasses
import json
import os
import os.path as osp
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from mmskysense.version import __version__

from .scene.contract import (
    ONNX_CONTRACT_KEY,
    InputContract,
    contract_from_config,
    contract_from_dict,
    contract_to_dict,
    sidecar_path,
    write_contract_json,
)
from .scene.spec import SceneSpec

FORMATS = ('onnx', 'pt2')
PARTS = ('model', 'backbone')
#: the tasks whose model is exported whole (a detector's post-processing is not)
EXPORTABLE_TASKS = ('segmentation', 'change', 'classification')
DEFAULT_OPSET = 18  # the torch.onnx exporter's default opset in torch 2.13; ONNX Runtime >= 1.16
INPUT_NAME = 'input'


def contract_of_model(model: nn.Module, meta: Mapping | None = None) -> InputContract:
    """The contract a model carries (``init_model`` puts the checkpoint's contract on
    ``model.input_contract`` when it holds one), else the one of its config."""
    stored = getattr(model, 'input_contract', None)
    if stored is not None:
        return stored
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise ValueError('the model carries no config (build it with init_model) nor contract')
    return contract_from_config(cfg, meta)


def graph_bands(contract: InputContract) -> list[int]:
    """The scene bands of the graph's channels of one date, in order: the spec's bands after
    the data preprocessor's channel swap (3 channels only, as the OpenMMLab preprocessors)."""
    ref = contract.spec.reference
    if ref.channels is None and ref.bands is None:
        raise ValueError(
            f'{contract.config or "the model"}: its config says neither its bands nor its '
            'channel count (give the loader num_bands or the backbone in_channels)'
        )
    bands = ref.bands_or_default(ref.channels)
    if contract.bgr_to_rgb and len(bands) == 3:
        bands = bands[::-1]
    return bands


def _check_preprocessor_keeps(model: nn.Module, tile: int) -> None:
    """The exported graph starts after the data preprocessor, so the preprocessor must not pad
    a tile (its ``size`` / ``size_divisor``): the tile is the model's input as it is."""
    pre = getattr(model, 'data_preprocessor', None)
    size = getattr(pre, 'size', None) or getattr(pre, 'pad_size', None)
    divisor = getattr(pre, 'size_divisor', None)
    if size is not None and tuple(size) != (tile, tile):
        raise ValueError(
            f'the data preprocessor pads inputs to {tuple(size)}: export with --tile '
            f'{size[0]} (tiles of another size would be padded, which the graph cannot do)'
        )
    if divisor and tile % divisor:
        raise ValueError(f'--tile {tile} is not a multiple of the size_divisor {divisor}')


def check_exportable(model: nn.Module, contract: InputContract, part: str) -> None:
    """Refuse, with the reason, a model this exporter does not handle."""
    if part not in PARTS:
        raise ValueError(f'part must be one of {PARTS}, got {part!r}')
    if len(contract.spec.inputs) > 1 or getattr(model, 'multimodal_inputs', False):
        raise ValueError(
            f'{contract.config}: a multi-modal model ({contract.spec.names}) takes a dict of '
            'inputs with masks; export supports single-input models'
        )
    if part == 'backbone':
        if not hasattr(model, 'backbone'):
            raise ValueError(f'{type(model).__name__} has no backbone to export')
        return
    if contract.task not in EXPORTABLE_TASKS:
        raise ValueError(
            f'{contract.config}: a {contract.task} model is not exported whole (its '
            'post-processing is not a graph); export its backbone with --part backbone'
        )
    if contract.spec.reference.is_series and contract.task != 'change':
        raise ValueError(
            f'{contract.config}: a series model takes date masks and days of year beside the '
            'pixels; export supports single images and change pairs'
        )
    if contract.task == 'classification':
        if not hasattr(model, 'head'):
            raise ValueError(f'{type(model).__name__}: a classifier needs a head')
    elif not hasattr(model, 'encode_decode'):
        raise ValueError(f'{type(model).__name__}: a segmentor needs encode_decode')


class ExportModule(nn.Module):
    """The traced function: standardised tiles ``N x C x tile x tile`` -> the outputs of the
    module docstring. ``model`` is put in eval mode."""

    def __init__(self, model: nn.Module, contract: InputContract, part: str = 'model') -> None:
        super().__init__()
        self.model = model.eval()
        self.task, self.part, self.tile = contract.task, part, contract.tile
        self.multi_label = contract.multi_label

    def forward(self, x: torch.Tensor) -> Any:
        if self.part == 'backbone':
            feats = self.model.backbone(x)
            return tuple(feats) if isinstance(feats, (list, tuple)) else (feats,)
        if self.task == 'classification':
            logits = self.model(x, mode='tensor')
            if isinstance(logits, (list, tuple)):
                logits = logits[-1]
            return logits.sigmoid() if self.multi_label else logits.softmax(dim=1)
        size = (self.tile, self.tile)
        # one meta serves the batch: the decode head reads the first sample's shapes
        metas = [dict(img_shape=size, ori_shape=size, pad_shape=size)]
        logits = self.model.encode_decode(x, metas)
        if tuple(logits.shape[-2:]) != size:
            logits = nn.functional.interpolate(logits, size, mode='bilinear', align_corners=False)
        return logits.softmax(dim=1)


def export_contract(
    contract: InputContract, tile: int | None = None, overlap: int | None = None, part='model'
) -> InputContract:
    """The contract of an exported graph: ``tile`` fixes the graph's size (default the
    contract's); ``overlap`` defaults to the contract's when below the tile, else a quarter of
    the tile (no overlap for a classifier's grid of windows). A backbone of a change detector
    takes one date."""
    tile = tile or contract.tile
    if overlap is None:
        overlap = contract.overlap if contract.overlap < tile else tile // 4
    spec = contract.spec
    if part == 'backbone' and contract.task == 'change':
        ref = dataclasses.replace(spec.reference, num_dates=None)
        spec = SceneSpec([ref], 'any', 'ground')
    return dataclasses.replace(contract, spec=spec, tile=tile, overlap=overlap)


def deepness_metadata(contract: InputContract, part: str = 'model') -> dict[str, str]:
    """The QGIS plugin Deepness's metadata keys (JSON values, its documented format): a
    segmentor or change detector opens there as a ``Segmentor`` (plain arg-max:
    ``seg_thresh`` 0). Deepness scales pixels by 1/255 before standardising, so the mean and
    std are given over 255 (the same ``(x - mean) / std``), one per graph channel."""
    meta: dict[str, Any] = {}
    if part == 'model' and contract.task in ('segmentation', 'change'):
        meta['model_type'] = 'Segmentor'
        meta['seg_thresh'] = 0.0
    if contract.classes and part == 'model':
        meta['class_names'] = {str(i): name for i, name in enumerate(contract.classes)}
    if contract.gsd is not None:
        meta['resolution'] = round(contract.gsd * 100, 6)  # centimetres per pixel
    meta['tiles_size'] = contract.tile
    meta['tiles_overlap'] = round(100 * contract.overlap / contract.tile)  # percent of the tile
    ref = contract.spec.reference
    channels = len(graph_bands(contract)) * (ref.num_dates or 1)
    stats = contract.channel_stats(channels)
    if stats is not None:
        meta['standardization_mean'] = [m / 255 for m in stats[0]]
        meta['standardization_std'] = [s / 255 for s in stats[1]]
    return {k: json.dumps(v) for k, v in meta.items()}


def _example(contract: InputContract, batch: int = 2) -> torch.Tensor:
    ref = contract.spec.reference
    channels = len(graph_bands(contract)) * (ref.num_dates or 1)
    g = torch.Generator().manual_seed(0)
    return torch.randn(batch, channels, contract.tile, contract.tile, generator=g)


def _output_names(module: ExportModule, example: torch.Tensor) -> list[str]:
    with torch.no_grad():
        out = module(example[:1])
    if isinstance(out, tuple):
        return [f'feat{i}' for i in range(len(out))]
    return ['probs']


def _publish(tmp_dir: str, out: str) -> None:
    """Move every file written in ``tmp_dir`` (the model, external data) beside ``out``."""
    folder = osp.dirname(osp.abspath(out))
    for name in os.listdir(tmp_dir):
        dst = osp.abspath(out) if name == '__model__' else osp.join(folder, name)
        os.replace(osp.join(tmp_dir, name), dst)


def export_model(
    model: nn.Module,
    out: str,
    fmt: str = 'onnx',
    contract: InputContract | None = None,
    part: str = 'model',
    tile: int | None = None,
    overlap: int | None = None,
    opset: int = DEFAULT_OPSET,
    optimize: bool = True,
) -> dict:
    """Export ``model`` (from ``init_model``) to ``out`` and its contract to ``<out>.json``.
    ``tile`` defaults to the data preprocessor's pad size, else the contract's tile.

    Returns a report: ``path``, ``sidecar``, ``bytes`` (the model file's size, external data
    included), ``input`` (name and shape, ``'N'`` the dynamic batch), ``outputs``,
    ``graph_bands`` (the scene bands of the graph's channels of one date) and ``contract``.
    Nothing is left at ``out`` when the export fails.
    """
    if fmt not in FORMATS:
        raise ValueError(f'format must be one of {FORMATS}, got {fmt!r}')
    if tile is None and part == 'model':
        size = getattr(getattr(model, 'data_preprocessor', None), 'size', None)
        if size is not None and size[0] == size[1]:
            tile = int(size[0])  # the model's input size: a tile it takes unpadded
    contract = export_contract(contract or contract_of_model(model), tile, overlap, part)
    check_exportable(model, contract, part)
    if part == 'model':
        _check_preprocessor_keeps(model, contract.tile)
    module = ExportModule(model, contract, part)
    example = _example(contract)
    outputs = _output_names(module, example)
    bands = graph_bands(contract)
    dims = {'x': {0: torch.export.Dim('batch', min=1, max=4096)}}
    doc = contract_to_dict(contract)
    export_info = dict(
        format=fmt,
        part=part,
        input=dict(
            name=INPUT_NAME, shape=['N', int(example.shape[1]), contract.tile, contract.tile]
        ),
        outputs=outputs,
        graph_bands=bands,
        mmskysense=__version__,
        torch=torch.__version__,
    )
    folder = osp.dirname(osp.abspath(out))
    os.makedirs(folder, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix='.export_', dir=folder)
    published = False
    try:
        tmp = osp.join(tmp_dir, '__model__')
        with torch.no_grad():
            if fmt == 'onnx':
                export_info['opset'] = opset
                program = torch.onnx.export(
                    module,
                    (example,),
                    input_names=[INPUT_NAME],
                    output_names=outputs,
                    dynamic_shapes=dims,
                    opset_version=opset,
                    dynamo=True,
                    optimize=optimize,
                )
                props = program.model.metadata_props
                props.update(deepness_metadata(contract, part))
                props[ONNX_CONTRACT_KEY] = json.dumps(dict(doc, export=export_info))
                program.model.producer_name = 'mmskysense'
                program.save(tmp)
            else:
                program = torch.export.export(module, (example,), dynamic_shapes=dims)
                extra = {'input_contract.json': json.dumps(dict(doc, export=export_info))}
                torch.export.save(program, tmp, extra_files=extra)
        size = sum(osp.getsize(osp.join(tmp_dir, n)) for n in os.listdir(tmp_dir))
        _publish(tmp_dir, out)
        published = True
        sidecar = write_contract_json(contract, sidecar_path(out), export=export_info)
    except BaseException:
        if published and osp.exists(out):
            os.remove(out)  # a model without its contract file is not an export
        raise
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return dict(
        path=out,
        part=part,
        sidecar=sidecar,
        bytes=size,
        input=export_info['input'],
        outputs=outputs,
        graph_bands=bands,
        contract=contract,
    )


def load_pt2(path: str) -> tuple[Any, InputContract]:
    """``(exported_program, contract)`` of a pt2 archive written by ``export_model``."""
    extra = {'input_contract.json': ''}
    program = torch.export.load(path, extra_files=extra)
    if not extra['input_contract.json']:
        raise ValueError(f'{path}: a pt2 archive without an mmskysense input contract')
    doc = json.loads(extra['input_contract.json'])
    doc.pop('export', None)
    return program, contract_from_dict(doc, path)


def compare_onnx(model: nn.Module, report: Mapping, batch: int = 3) -> tuple[float, float | None]:
    """ONNX Runtime against PyTorch on ``batch`` random standardised tiles (a batch other than
    the traced one): the largest absolute difference of the outputs, and the fraction of
    pixels (tiles for a classifier) whose arg-max class agrees (None for a backbone's
    features)."""
    import onnxruntime as ort

    contract = report['contract']
    module = ExportModule(model, contract, report.get('part', 'model'))
    x = _example(contract, batch) * 2
    with torch.no_grad():
        ref = module(x)
    ref = list(ref) if isinstance(ref, tuple) else [ref]
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(report['path'], options, providers=['CPUExecutionProvider'])
    got = session.run(None, {INPUT_NAME: x.numpy()})
    diff = max(float((torch.from_numpy(g) - r).abs().max()) for g, r in zip(got, ref))
    if report.get('part', 'model') != 'model':
        return diff, None
    agree = float((torch.from_numpy(got[0]).argmax(1) == ref[0].argmax(1)).float().mean())
    return diff, agree
