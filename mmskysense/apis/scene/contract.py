"""A model's input contract: what a scene must give it and what its outputs mean, in one place.

``InputContract`` holds the model's ``SceneSpec`` (its inputs: modalities, bands, dates, the
opening policy; ``scene_spec_from_config``, never derived a second time) and what the spec does
not say: the task kind and class names / palette (``task_of``, ``classes_of``), the ground
sampling distance (``model_gsd``), the tile size and overlap of scene inference, and the value
scaling the model's data preprocessor applies (per-band ``mean`` / ``std``, a BGR<->RGB swap),
which a runtime without the model's data preprocessor (an exported model) applies itself.

It travels as a plain dict (``contract_to_dict`` / ``contract_from_dict``: ``dataclasses.asdict``
and its inverse over the dataclasses' own fields, so fields added to ``SceneSpec`` /
``ModalityInput`` travel with no change here): in a checkpoint's ``meta['input_contract']``
(``tools/train.py``, ``InputContractHook``), beside an exported model (``<model>.json``) and in
an ONNX file's metadata (``mmskysense.input_contract``). The scene engine reads it from there
(``load_contract``) instead of deriving it from the config's pipelines.

This module imports neither torch nor an OpenMMLab package: an exported model runs without them.
"""

import dataclasses
import json
import os
import os.path as osp
import tempfile
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mmskysense.utils.atomic_files import publish

from .gsd import model_gsd
from .spec import TASKS, SceneSpec, classes_of, scene_spec, task_of

#: bumped when a field changes meaning (a new field with a default needs no bump)
CONTRACT_VERSION = 1
#: the key of the contract in a checkpoint's ``meta`` and in an ONNX file's metadata
CONTRACT_KEY = 'input_contract'
ONNX_CONTRACT_KEY = 'mmskysense.input_contract'
#: the CLI's tiles of a class map (segmentation, change) and of detection: the overlap must
#: exceed the largest object
DENSE_TILE, DENSE_OVERLAP, DETECTION_OVERLAP = 512, 128, 200
#: the classes of a change map when nothing else names them
CHANGE_CLASSES = ('unchanged', 'changed')
CHANGE_PALETTE = [[40, 40, 40], [255, 60, 40]]


@dataclass
class InputContract:
    """The input contract of a model.

    Args:
        spec: the model's inputs (``SceneSpec``; its ``inputs[0]`` is the reference).
        task: the task kind (``TASKS``).
        classes: the class names (None when nothing names them, e.g. a pretraining config).
        palette: one RGB triple per class, or None.
        multi_label: a classifier that scores each class on its own (a sigmoid per class).
        gsd: metres per pixel of the reference input the model was trained at, or None.
        tile: the default tile size of scene inference, in output pixels (an exported model
            takes tiles of ``tile`` pixels).
        overlap: the default overlap of neighbouring tiles.
        mean: the data preprocessor's standardisation ``(x - mean) / std``: one value per band
            of one date of the reference input, in the units of the values as read; a
            multi-modal preprocessor's: one such list per modality it standardises (None: the
            model has no such step).
        std: the same for ``std``.
        bgr_to_rgb: the data preprocessor reverses the three channels before standardising.
        config: the config file the contract was derived from (its name, for people).
        version: ``CONTRACT_VERSION`` of the writer.
    """

    spec: SceneSpec
    task: str
    classes: list[str] | None = None
    palette: list[list[int]] | None = None
    multi_label: bool = False
    gsd: float | None = None
    tile: int = DENSE_TILE
    overlap: int = DENSE_OVERLAP
    mean: list[float] | dict[str, list[float]] | None = None
    std: list[float] | dict[str, list[float]] | None = None
    bgr_to_rgb: bool = False
    config: str | None = None
    version: int = CONTRACT_VERSION

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f'input contract: task must be one of {TASKS}, got {self.task!r}')
        # the overlap may reach the tile here: a caller's --tile comes with it (TileGrid checks)
        if self.tile < 1 or self.overlap < 0:
            raise ValueError(
                f'input contract: need tile >= 1 and overlap >= 0, got tile={self.tile}, '
                f'overlap={self.overlap}'
            )
        if (self.mean is None) != (self.std is None):
            raise ValueError('input contract: give both mean and std, or neither')
        if isinstance(self.mean, Mapping) or isinstance(self.std, Mapping):
            if not (isinstance(self.mean, Mapping) and isinstance(self.std, Mapping)) or set(
                self.mean
            ) != set(self.std):
                raise ValueError('input contract: mean and std must name the same modalities')
            pairs = {m: _stats(self.mean[m], self.std[m], m) for m in self.mean}
            self.mean = {m: p[0] for m, p in pairs.items()}
            self.std = {m: p[1] for m, p in pairs.items()}
        elif self.mean is not None:
            self.mean, self.std = _stats(self.mean, self.std, 'the input')
        if self.classes is not None:
            self.classes = [str(c) for c in self.classes]
            if self.palette is not None and len(self.palette) != len(self.classes):
                raise ValueError(
                    f'input contract: {len(self.palette)} palette colours for '
                    f'{len(self.classes)} classes'
                )
        if self.version > CONTRACT_VERSION:
            raise ValueError(
                f'input contract version {self.version} is newer than this mmskysense reads '
                f'({CONTRACT_VERSION}): update mmskysense'
            )

    @property
    def num_classes(self) -> int:
        if not self.classes:
            raise ValueError(f'the input contract of {self.config or "the model"} names no classes')
        return len(self.classes)

    def channel_stats(
        self, channels: int, name: str | None = None
    ) -> tuple[list[float], list[float]] | None:
        """``(mean, std)`` for the ``channels`` stacked channels of input ``name`` (default
        the reference; a series or pair date-major: the per-band values repeated per date), or
        None when the preprocessor does not standardise it."""
        mean, std = self.mean, self.std
        if isinstance(mean, Mapping):
            name = name or self.spec.reference.name
            if name not in mean:
                return None
            mean, std = mean[name], std[name]
        if mean is None:
            return None
        if channels % len(mean):
            raise ValueError(
                f'input contract: {len(mean)} mean/std values do not divide the '
                f'{channels} channels of the input'
            )
        reps = channels // len(mean)
        return mean * reps, std * reps


def _stats(mean: Any, std: Any, what: str) -> tuple[list[float], list[float]]:
    mean, std = [float(v) for v in mean], [float(v) for v in std]
    if len(mean) != len(std) or not all(s > 0 for s in std):
        raise ValueError(
            f'input contract: mean ({len(mean)} values) and std ({len(std)}, all > 0) of '
            f'{what} must match, got std {std}'
        )
    return mean, std


# ------------------------------------------------------------------------------ from a config
def is_multi_label(model: Any) -> bool:
    """A classifier whose head scores each class on its own (mmpretrain's ``MultiLabelClsHead``
    and its subclasses, or a head that says ``multi_label = True``); ``model`` a model or its
    config dict."""
    head = model.get('head') if isinstance(model, Mapping) else getattr(model, 'head', None)
    if head is None:
        return False
    if isinstance(head, Mapping):
        return 'MultiLabel' in str(head.get('type', '')) or bool(head.get('multi_label'))
    if getattr(head, 'multi_label', False):
        return True
    return any(c.__name__ == 'MultiLabelClsHead' for c in type(head).__mro__)


def data_preprocessor_cfg(cfg: Any) -> Mapping:
    """The model's data preprocessor config (``model.data_preprocessor``, else the top-level
    ``data_preprocessor`` that mmengine's runner hands to the model)."""
    model = cfg.get('model') or {}
    return model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}


def test_scale(cfg: Any, default: int = 1024) -> int:
    """The longest side of the test pipeline's resize, the patch size the model was tested at
    (a multi-modal loader's: the out_size of the config's first modality), else ``default``."""
    for step in cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', []):
        kind = str(step.get('type', '')).split('.')[-1]
        if kind == 'Resize' and step.get('scale'):
            scale = step['scale']
            return int(max(scale) if isinstance(scale, (list, tuple)) else scale)
        if kind == 'LoadMultiModalImages' and cfg.get('modalities'):
            size = step['modalities'].get(cfg.modalities[0], {}).get('out_size')
            if size:
                return int(max(size))
    return default


def scene_tiling(cfg: Any, task: str) -> tuple[int, int]:
    """The tile size and overlap of scene inference: the config's ``scene_tile`` /
    ``scene_overlap`` when stated; else a scene classifier's window is its test resize, without
    overlap (its map is a grid of those windows), a detector's tile its test resize with 200 px
    of overlap (more than the largest object), any other model's 512 px with 128 of overlap."""
    if task == 'classification':
        tile, overlap = test_scale(cfg), 0
    elif task == 'detection':
        tile, overlap = test_scale(cfg), DETECTION_OVERLAP
    else:
        tile, overlap = DENSE_TILE, DENSE_OVERLAP
    return int(cfg.get('scene_tile') or tile), int(cfg.get('scene_overlap', overlap))


def contract_from_config(
    cfg: Any,
    meta: Mapping | None = None,
    task: str | None = None,
    bands: Sequence[int] | None = None,
) -> InputContract:
    """The input contract of the model of ``cfg`` (an mmengine ``Config`` or a dict).

    ``meta``: a checkpoint's (or runner's) ``dataset_meta``, whose classes come first
    (``classes_of``); ``task`` / ``bands``: a caller's, as ``scene_spec`` takes them.
    """
    task = task or task_of(cfg)
    spec = scene_spec(cfg, bands, task)
    try:
        if task == 'change':
            classes, palette = classes_of(cfg, meta, CHANGE_CLASSES, CHANGE_PALETTE)
        else:
            classes, palette = classes_of(cfg, meta)
    except ValueError:
        classes, palette = None, None  # e.g. a pretraining config: nothing to name
    pre = data_preprocessor_cfg(cfg)
    mean, std = pre.get('mean'), pre.get('std')
    tile, overlap = scene_tiling(cfg, task)
    filename = getattr(cfg, 'filename', None)
    contract = InputContract(
        spec=spec,
        task=task,
        classes=classes,
        palette=palette,
        multi_label=task == 'classification' and is_multi_label(cfg.get('model') or {}),
        gsd=model_gsd(cfg),
        tile=tile,
        overlap=overlap,
        mean=mean,
        std=std,
        # mmseg / mmdet: bgr_to_rgb (or rgb_to_bgr), mmpretrain: to_rgb; each reverses 3 bands
        bgr_to_rgb=bool(pre.get('bgr_to_rgb') or pre.get('rgb_to_bgr') or pre.get('to_rgb')),
        config=osp.basename(filename) if filename else None,
    )
    # values in their JSON form (tuples as lists): the contract a checkpoint or an export
    # carries compares equal to the one derived here
    _as_json_values(contract)
    return contract


# -------------------------------------------------------------------------- (de)serialising
def _as_json_values(obj: Any) -> None:
    """Replace, in place, each field value of the dataclass ``obj`` (nested ones included) by
    its JSON form, without constructing anything anew (a constructor's defaults stay out)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            _as_json_values(value)
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            for item in value:
                _as_json_values(item)
        else:
            setattr(obj, f.name, json.loads(json.dumps(value)))


def contract_to_dict(contract: InputContract) -> dict:
    """A JSON-ready dict of every field (nested dataclasses included)."""
    return json.loads(json.dumps(dataclasses.asdict(contract)))


def _build(tp: Any, value: Any, where: str) -> Any:
    """``value`` (from JSON) as type ``tp``: dataclasses rebuilt field by field, lists and
    optionals through their element type, anything else as it is."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        for arg in typing.get_args(tp):
            if arg is not type(None):
                return _build(arg, value, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ValueError(f'{where}: expected an object for {tp.__name__}, got {value!r}')
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp) if f.init}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(
                f'{where}: {tp.__name__} has no field {", ".join(unknown)} (written by a newer '
                'mmskysense? update it)'
            )
        return tp(**{k: _build(hints[k], v, f'{where}.{k}') for k, v in value.items()})
    if origin is list and isinstance(value, list):
        (arg,) = typing.get_args(tp) or (Any,)
        return [_build(arg, v, f'{where}[{i}]') for i, v in enumerate(value)]
    return value


def contract_from_dict(data: Mapping, source: str = 'input contract') -> InputContract:
    """The inverse of ``contract_to_dict``; ``source`` names where ``data`` came from in
    errors."""
    if not isinstance(data, Mapping) or 'spec' not in data or 'task' not in data:
        raise ValueError(f'{source}: not an input contract (an object with spec and task)')
    try:
        return _build(InputContract, data, source)
    except (TypeError, ValueError) as err:
        raise ValueError(f'{source}: invalid input contract: {err}') from None


def sidecar_path(model_path: str) -> str:
    """The contract's JSON file beside an exported model: ``model.onnx`` -> ``model.json``."""
    return osp.splitext(model_path)[0] + '.json'


def write_contract_json(contract: InputContract, path: str, **extra: Any) -> str:
    """Write the contract (with ``extra`` top-level entries such as the export's details under
    ``"export"``) as JSON at ``path``, atomically: a failure leaves no partial file."""
    doc = contract_to_dict(contract)
    overlap = set(doc) & set(extra)
    if overlap:
        raise ValueError(f'extra entries {sorted(overlap)} would replace contract fields')
    doc.update(extra)
    folder = osp.dirname(osp.abspath(path))
    fd, tmp = tempfile.mkstemp(suffix='.json.partial', dir=folder)
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(doc, f, indent=2)
            f.write('\n')
        publish(tmp, path)  # mkstemp's 0600 would hide it from colleagues
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return path


def read_contract_json(path: str) -> tuple[InputContract, dict]:
    """``(contract, extra)`` of a JSON file written by ``write_contract_json``."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f'{path}: no input contract file') from None
    except json.JSONDecodeError as err:
        raise ValueError(f'{path}: not JSON ({err})') from None
    names = {f.name for f in dataclasses.fields(InputContract)}
    extra = {k: doc.pop(k) for k in list(doc) if k not in names and k == 'export'}
    return contract_from_dict(doc, path), extra
