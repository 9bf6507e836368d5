"""Models by name: ``list_models``, ``get_model`` and ``inference_model``.

A model's name is its config's file name without ``.py`` (``configs/<folder>/<name>.py``,
``_base_`` excluded); the configs are found in a clone and in an installed package alike
(``mmskysense.utils.package_data``). ``get_model`` builds through ``init_model`` (the one
checkpoint loader); ``inference_model`` runs one image, pair or set of modalities through the
scene engine's adapters (``mmskysense.apis.scene.adapters``), so a model gives the same
numbers here as over a scene.
"""

import difflib
import fnmatch
import glob
import importlib
import os
import os.path as osp
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .model_loading import init_model


def _config_paths() -> dict[str, str]:
    """``{name: path}`` of every config but the ``_base_`` ones."""
    from mmskysense.utils.package_data import config_root

    root = config_root()
    paths: dict[str, str] = {}
    for path in sorted(glob.glob(osp.join(root, '*', '*.py'))):
        if osp.basename(osp.dirname(path)) == '_base_':
            continue
        name = osp.splitext(osp.basename(path))[0]
        if name in paths:
            raise RuntimeError(
                f'two configs are named {name!r}: {paths[name]} and {path}; names must be unique'
            )
        paths[name] = path
    return paths


def list_models(pattern: str | None = None) -> list[str]:
    """The names of the models ``get_model`` builds, sorted.

    Args:
        pattern: a shell-style wildcard (``fnmatch``, e.g. ``'upernet_*'`` or ``'*levir*'``);
            None lists all. A pattern without wildcards matches names that contain it.
    """
    names = sorted(_config_paths())
    if pattern is None:
        return names
    if not any(c in pattern for c in '*?['):
        pattern = f'*{pattern}*'
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def get_config_path(name: str) -> str:
    """The config file of model ``name``; a KeyError lists the nearest names otherwise."""
    paths = _config_paths()
    if name not in paths:
        near = difflib.get_close_matches(name, list(paths), n=3, cutoff=0.4)
        hint = f'; did you mean {near}?' if near else ''
        raise KeyError(
            f'no model named {name!r} ({len(paths)} models, see mmskysense.list_models()){hint}'
        )
    return paths[name]


def published_weights(name: str) -> str | None:
    """The ``Weights`` of model ``name`` in the model index (None where none are published)."""
    import yaml

    from mmskysense.utils.package_data import model_index_path

    index_path = model_index_path()
    with open(index_path) as f:
        index = yaml.safe_load(f)
    for rel in index.get('Import', []):
        with open(osp.join(osp.dirname(index_path), rel)) as f:
            for model in yaml.safe_load(f).get('Models', []):
                if model.get('Name') == name:
                    return model.get('Weights')
    return None


def _import_scopes(model_cfg: Any) -> None:
    """Import the model packages of every scope the config names (``mmseg.UPerHead`` ...), so
    that no module-level tensor of theirs is created under the meta device."""
    scopes: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            kind = node.get('type')
            if isinstance(kind, str) and '.' in kind:
                scopes.add(kind.split('.', 1)[0])
            for v in node.values():
                walk(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v)

    walk(model_cfg)
    for scope in sorted(scopes):
        try:
            importlib.import_module(f'{scope}.models')
        except ModuleNotFoundError as err:
            if err.name not in (scope, f'{scope}.models'):
                raise  # the package is there and one of its imports failed
            # a scope without a models package (mmengine's): its registry's locations
            registry = importlib.import_module(f'{scope}.registry')
            registry.MODELS.import_from_location()


def get_model(
    name: str,
    pretrained: bool | str | None = None,
    device: str | torch.device = 'cpu',
    **cfg_options: Any,
) -> torch.nn.Module:
    """Build model ``name`` (a ``list_models()`` name), ready for inference.

    Args:
        name: the config's name, e.g. ``'upernet_skysense-v2-huge_4xb4-40k_potsdam-512x512'``.
        pretrained: None builds without weights (PyTorch's initialisation; the backbone's
            ``init_cfg`` is skipped, so nothing is downloaded); a path or URL of a checkpoint
            loads it through the project's checkpoint loader (``init_model``: every key must
            fit); True loads the weights the model index publishes for ``name`` (an error where
            it publishes none).
        device: where the model is put; ``'meta'`` builds its structure without allocating any
            weight (to inspect a 2-billion-parameter model or check a config; it cannot run).
        **cfg_options: merged into the config's ``model`` (nested dicts merge key by key), e.g.
            ``backbone=dict(arch='tiny')`` or ``decode_head=dict(num_classes=3)``.

    Returns:
        The model in eval mode, with ``model.cfg`` (its config, as the scene tools read it) and
        ``model.dataset_meta`` (the checkpoint's, e.g. its class names; ``{}`` without one).
    """
    path = get_config_path(name)
    if pretrained is True:
        pretrained = published_weights(name)
        if pretrained is None:
            raise ValueError(
                f'get_model({name!r}, pretrained=True): the model index publishes no weights for '
                'it; pass the path or URL of your checkpoint'
            )
    elif pretrained is False:
        pretrained = None
    elif pretrained is not None and not isinstance(pretrained, str):
        raise TypeError(
            f'get_model: `pretrained` must be None, True or a path / URL, got '
            f'{type(pretrained).__name__}'
        )
    options = {f'model.{k}': v for k, v in cfg_options.items()}
    if torch.device(device).type != 'meta':
        model, meta = init_model(path, pretrained, str(device), options)
    else:
        if pretrained is not None:
            raise ValueError(f'get_model({name!r}): weights cannot be loaded on the meta device')
        from mmengine.config import Config

        from mmskysense.utils import register_all_modules

        cfg = Config.fromfile(path)
        cfg.merge_from_dict(options)
        # every module is imported before the meta device is on: only the model's weights
        # are created under it
        register_all_modules()
        _import_scopes(cfg.model)
        with torch.device('meta'):
            model, meta = init_model(cfg, None, 'meta')
    model.dataset_meta = meta
    return model


def _as_array(value: Any, what: str) -> np.ndarray:
    if isinstance(value, (str, os.PathLike)):  # a raster file: all its bands, C x H x W
        from mmskysense.datasets.raster import read_raster

        value = read_raster(os.fspath(value)).transpose(2, 0, 1)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f'inference_model: {what} must be a numpy array, a tensor or a raster path, got '
            f'{type(value).__name__}'
        )
    if value.dtype.kind not in 'biuf':
        raise TypeError(f'inference_model: {what} has dtype {value.dtype}; expected numbers')
    if value.dtype.kind == 'f' and not np.isfinite(value).all():
        raise ValueError(f'inference_model: {what} holds NaN or infinite values')
    return value


def _model_input(
    item: Any, spec: Any, what: str, dates: list | None = None, days: Any = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """One input -> ``C x h x w`` or ``T x C x h x w`` of the model's bands (the file's bands
    picked as the scene engine picks them: ``ModalityInput.bands``), and the days of year of
    the dates kept (``days``: one per given date; None: unknown)."""
    if dates is not None:  # a change pair or a series given as a list of images
        arr = np.stack([_as_array(d, f'{what}[{i}]') for i, d in enumerate(dates)])
    else:
        arr = _as_array(item, what)
    want = 4 if spec.is_series else 3
    if arr.ndim != want:
        shape = 'T x C x H x W (a series)' if spec.is_series else 'C x H x W (one image)'
        raise ValueError(
            f'inference_model: {what} is {arr.shape}; model input {spec.name!r} takes {shape}'
        )
    bands = spec.bands_or_default(arr.shape[-3])
    if max(bands) > arr.shape[-3]:
        raise ValueError(
            f'inference_model: {what} has {arr.shape[-3]} bands; model input {spec.name!r} '
            f'reads bands {bands} (1-based, as from a file)'
        )
    arr = arr[..., [b - 1 for b in bands], :, :]
    if days is not None:
        days = np.asarray(days, np.int64).reshape(-1)
        if not spec.is_series or len(days) != arr.shape[0]:
            dates = arr.shape[0] if spec.is_series else 'no series'
            raise ValueError(
                f'inference_model: {len(days)} days of year for {what}, which has {dates} dates'
            )
        if ((days < 1) | (days > 366)).any():
            raise ValueError(f'inference_model: days of year of {what} must be in 1..366')
    if spec.is_series:
        from mmskysense.structures.modalities import select_dates

        keep = select_dates(arr.shape[0], spec.num_dates, spec.select)
        arr = arr[keep]
        days = None if days is None else days[keep]
    return arr, days


def _tile_batch(inputs: Any, spec: Any, task: str, days: Mapping | None = None) -> Any:
    """The ``TileBatch`` of one tile: the whole image (pair, series, modalities)."""
    from mmskysense.apis.scene.inputs import TileBatch
    from mmskysense.datasets.tiling import Tile

    if isinstance(inputs, Mapping):
        given = dict(inputs)
        unknown = set(given) - set(spec.names)
        if unknown:
            raise KeyError(
                f'inference_model: the model takes no input {sorted(unknown)}; its inputs are '
                f'{spec.names}'
            )
    elif len(spec.inputs) > 1:
        raise TypeError(
            f'inference_model: a multi-modal model takes a dict of modalities {spec.names} '
            f'(the first required), got {type(inputs).__name__}'
        )
    else:
        given = {spec.reference.name: inputs}
    ref = spec.reference
    if ref.name not in given:
        raise KeyError(f'inference_model: the reference input {ref.name!r} is required')

    days = dict(days or {})
    if set(days) - set(given):
        raise KeyError(
            f'inference_model: days of year for {sorted(set(days) - set(given))}, which are '
            f'not among the inputs given {sorted(given)}'
        )
    arrays: dict[str, np.ndarray] = {}
    day_arrays: dict[str, np.ndarray] = {}
    for m in spec.inputs:
        if m.name not in given:
            continue
        item = given[m.name]
        pair = task == 'change' and isinstance(item, (list, tuple))
        if pair and len(item) != m.num_dates:
            raise ValueError(
                f'inference_model: a change detector takes a pair of images '
                f'(before, after), got {len(item)}'
            )
        series_list = isinstance(item, (list, tuple))
        arrays[m.name], picked = _model_input(
            item, m, f'input {m.name!r}', list(item) if series_list else None, days.get(m.name)
        )
        if picked is not None:
            day_arrays[m.name] = picked
    h, w = arrays[ref.name].shape[-2:]
    batch_inputs, valid, date_mask, doy = {}, {}, {}, {}
    for m in spec.inputs:
        size = (round(h * m.scale), round(w * m.scale))
        arr = arrays.get(m.name)
        if arr is None:  # left out: masked, as a sample lacking the modality in training
            if m.channels is None:
                raise ValueError(
                    f'inference_model: input {m.name!r} left out, and its band count is unknown'
                )
            shape = ((m.num_dates,) if m.is_series else ()) + (m.channels, *size)
            arr = np.zeros(shape, np.float32)
            present = False
        else:
            if arr.shape[-2:] != size:
                raise ValueError(
                    f'inference_model: input {m.name!r} is {arr.shape[-2]} x {arr.shape[-1]} '
                    f'pixels; at its scale {m.scale} of the {h} x {w} reference it must be '
                    f'{size[0]} x {size[1]}'
                )
            present = True
        dates = arr.shape[0] if m.is_series else None
        if m.is_series and dates < m.num_dates:  # fewer dates: padded with masked ones
            pad = np.zeros((m.num_dates - dates, *arr.shape[1:]), arr.dtype)
            arr = np.concatenate([arr, pad])
        batch_inputs[m.name] = arr[None]
        if m.is_series:
            real = np.arange(m.num_dates) < dates if present else np.zeros(m.num_dates, bool)
            date_mask[m.name] = real[None]
            doy[m.name] = np.zeros(m.num_dates, np.int64)  # 0: unknown (or a padded date)
            if m.name in day_arrays:
                doy[m.name][: len(day_arrays[m.name])] = day_arrays[m.name]
            valid[m.name] = np.broadcast_to(real[:, None, None], (m.num_dates, *size))[None].copy()
        else:
            valid[m.name] = np.full((1, *size), present)
    tile = Tile(0, 0, 0, 0, h, w)
    return TileBatch([tile], batch_inputs, valid, date_mask, doy, np.ones((1, h, w), bool))


def inference_model(
    model: torch.nn.Module,
    inputs: Any,
    device: str | None = None,
    doy: Mapping[str, Any] | None = None,
) -> dict:
    """Run ``model`` (from ``get_model`` or ``init_model``) on one image, pair or set of
    modalities, through the scene engine's adapter for the model (``build_adapter``).

    Args:
        model: a model carrying its config (``model.cfg``).
        inputs: per input, an array or tensor holding the bands as a file stores them, or
            the path of a raster file (read whole; unlike ``segment_geotiff``, its nodata
            pixels are not masked). The model's bands are picked from them as the scene engine
            picks them from a file (``ModalityInput.bands``: a 3-band model trained on OpenCV's
            BGR images takes the RGB image and reverses it). ``C x H x W`` for one image;
            ``(before, after)`` (or ``2 x C x H x W``) for a change detector; ``T x C x H x W``
            (or a list of ``T`` images) for a series model (more dates are subsampled as the
            scene engine does, fewer padded with masked dates); ``{modality: array}`` for a
            multi-modal model (the first of its modalities required; one left out is masked).
        device: where to run it (default: where the model's weights are).
        doy: days of year (1..366) of a series input's dates, ``{modality: [day, ...]}``, one
            per given date (the multi-modal fusion encodes them); unknown (0) by default, as for
            a scene file whose dates are not tagged.

    Returns:
        A dict with ``task`` and ``classes``, and: ``probs`` (``K x H x W`` float32) and
        ``class_map`` (``H x W`` int64) for a segmentor or change detector; ``scores`` (``K``)
        and ``pred_label`` (single-label) or ``pred_labels`` (multi-label: scores of at least
        the head's threshold, 0.5 by default) for a classifier; ``bboxes``, ``scores`` and
        ``labels`` (tensors, image pixels) for a detector.
    """
    from mmskysense.apis.scene.adapters import build_adapter, is_multi_label
    from mmskysense.apis.scene.spec import classes_of, scene_spec_from_config, task_of

    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise TypeError(
            'inference_model: the model carries no config (model.cfg); build it with '
            'mmskysense.get_model or mmskysense.apis.init_model'
        )
    from mmpretrain.models import BaseSelfSupervisor

    if isinstance(model, BaseSelfSupervisor):
        raise TypeError(
            f'inference_model: {type(model).__name__} is a pretraining algorithm, not a '
            'fine-tuned model; run its backbone (model.backbone) on a dict of modalities'
        )
    if device is None:
        device = str(next(model.parameters()).device)
    if device == 'meta':
        raise ValueError('inference_model: the model was built on the meta device (no weights)')
    spec = scene_spec_from_config(cfg)
    task = task_of(cfg)
    batch = _tile_batch(inputs, spec, task, doy)
    classes, _ = classes_of(cfg, getattr(model, 'dataset_meta', None))
    out = build_adapter(model, spec, device)(batch)
    result: dict[str, Any] = dict(task=task, classes=list(classes) if classes else None)
    if task == 'detection':
        result.update(out[0])
    elif task == 'classification':
        scores = out[0, :, 0, 0].numpy()
        result['scores'] = scores
        if is_multi_label(model):
            thr = getattr(model.head, 'thr', None) or 0.5
            result['pred_labels'] = np.flatnonzero(scores >= thr)
        else:
            result['pred_label'] = int(scores.argmax())
    else:
        probs = out[0].numpy()
        result['probs'] = probs
        result['class_map'] = probs.argmax(0).astype(np.int64)
    return result
