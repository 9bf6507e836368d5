"""What a model expects of a scene: its modalities, bands and dates, from its config.

A ``SceneSpec`` lists the model's inputs (``ModalityInput``); the first is the reference, whose
grid the output takes. A config may state them (``scene_inputs = [dict(name='hr', ...), ...]``,
which multi-modal models must do); for a single-modal model they are derived from the config:
the backbone's modality, the temporal wrapper's ``bands_per_date`` and the test pipeline's loader
(``LoadTimeSeries``, ``LoadMultiBandImage`` or OpenCV's ``LoadImageFromFile``), so that the model
is given the bands, in the order and number of dates, it was trained with. A change detector
(``LoadImagePair``, a ``SiameseEncoderDecoder`` or a ``ChangeDetDataPreprocessor``) takes a
two-date series, defined where both dates hold data and opened under the exact-grid policy (a
change pair is never resampled). ``task_of`` and ``classes_of`` read a config's task kind and its
class names, the one way every scene entry point and tool reads them.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mmskysense.datasets.raster.bands import family_bands
from mmskysense.structures.modalities import DETERMINISTIC_SELECTIONS, modality, modality_names

VALID_DATES = ('any', 'all')
#: how ``SceneInputs.open`` places the files of a scene (docs/interfaces.md, Opening policies):
#: ``'ground'`` aligns every file by ground windows (resampling inputs of other grids),
#: ``'exact'`` requires one pixel grid up to whole-pixel offsets (a change pair)
POLICIES = ('ground', 'exact')
TASKS = ('segmentation', 'classification', 'change', 'detection')
#: inputs named by their modality table's bands unless a config says otherwise (an HR input's
#: channel order depends on its training loader, BGR or RGB: HR configs state theirs)
_NAMED_FAMILIES = ('s2', 's1')


@dataclass
class ModalityInput:
    """One input of the model.

    Args:
        name: the model's modality key (``'hr'``, ``'s2'``, ``'s1'``; ``'img'`` for a model that
            takes one plain tensor).
        channels: bands per date the model takes (default: ``len(bands)``).
        num_dates: None for a single image; ``T`` for a series of ``T`` dates (more are
            subsampled by ``select``, fewer padded with masked dates).
        bands: 1-based bands of each date to read, in the model's order (default
            ``1..channels``).
        scale: model pixels per output pixel (the reference has 1; the pretraining contract
            gives MS/SAR inputs ``1/8`` of the HR grid).
        select: which ``T`` dates of a longer series: ``'even'`` (spread over the series),
            ``'first'`` or ``'last'``.
        norm: the per-band standardisation training applied before the model: ``(mean, std)``,
            or ``dict(file=..., folds=[...])``, a ``NORM_<sat>_patch.json`` of PASTIS (the mean
            of those folds' statistics), read by ``norm_stats``.
        band_names: the model's bands by name, in its channel order (``'B02'``, ..., ``'VV'``):
            a file's bands are matched to them (``mmskysense.datasets.raster.bands``); None:
            positions only. Default for ``s2`` / ``s1`` inputs: the modality table's bands.
        wavelengths: their centre wavelengths in nm (None for a band without one), from the
            family's band table by default.
        value_stats: ``(mean, std)`` per band of the values the model was trained on as stored
            (before its data preprocessor): ``norm``'s, or the config's data preprocessor's;
            the scale guard (``check_value_scale``) compares a scene's first tiles with them.
    """

    name: str
    channels: int | None = None
    num_dates: int | None = None
    bands: list[int] | None = None
    scale: float = 1.0
    select: str = 'even'
    norm: Any = None
    band_names: list[str] | None = None
    wavelengths: list[float | None] | None = None
    value_stats: Any = None

    def __post_init__(self) -> None:
        if self.band_names is None and self.name in _NAMED_FAMILIES:
            table = modality(self.name).bands
            n = len(self.bands) if self.bands is not None else self.channels
            if table and n == len(table):
                self.band_names = list(table)
        if self.band_names is not None:
            self.band_names = [str(b) for b in self.band_names]
            n = len(self.bands) if self.bands is not None else self.channels
            if n is not None and n != len(self.band_names):
                raise ValueError(
                    f'input {self.name!r}: {len(self.band_names)} band names '
                    f'{self.band_names} for a model that takes {n} channels'
                )
            self.channels = self.channels or len(self.band_names)
            if self.wavelengths is None:
                self.wavelengths = [b.wavelength for b in self.bands_by_name()]
        if self.bands is not None:
            self.bands = [int(b) for b in self.bands]
            if not self.bands or min(self.bands) < 1:
                raise ValueError(f'input {self.name!r}: bands must be 1-based, got {self.bands}')
            if self.channels is None:
                self.channels = len(self.bands)
            elif self.channels != len(self.bands):
                raise ValueError(
                    f'input {self.name!r}: {len(self.bands)} bands {self.bands} for a model '
                    f'that takes {self.channels} channels'
                )
        if self.channels is not None and self.channels < 1:
            raise ValueError(f'input {self.name!r}: channels must be >= 1, got {self.channels}')
        if self.num_dates is not None and self.num_dates < 1:
            raise ValueError(f'input {self.name!r}: num_dates must be >= 1 or None')
        if not self.scale > 0:
            raise ValueError(f'input {self.name!r}: scale must be positive, got {self.scale}')
        if self.select not in DETERMINISTIC_SELECTIONS:
            raise ValueError(
                f'input {self.name!r}: select must be one of {DETERMINISTIC_SELECTIONS}'
            )

    @property
    def is_series(self) -> bool:
        return self.num_dates is not None

    def bands_by_name(self) -> list:
        """The model's bands (``Band``: name, common name, wavelength), [] without names."""
        if not self.band_names:
            return []
        found = family_bands(self.band_names, self.name)
        if self.wavelengths:
            found = [replace(b, wavelength=w) for b, w in zip(found, self.wavelengths)]
        return found

    def norm_stats(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(mean, std)`` float32 per band of ``norm`` (None without one); a statistics file
        is read once."""
        if self.norm is None:
            return None
        if getattr(self, '_stats', None) is None:
            norm = self.norm
            if isinstance(norm, Mapping):
                from mmskysense.datasets.downstream.pastis import fold_norm

                norm = fold_norm(norm['file'], norm['folds'])
            mean, std = (np.asarray(v, np.float32).reshape(-1) for v in norm)
            if self.bands is not None and len(mean) > len(self.bands) and len(mean) == len(std):
                mean, std = mean[[b - 1 for b in self.bands]], std[[b - 1 for b in self.bands]]
            if mean.shape != std.shape or (self.channels and len(mean) != self.channels):
                raise ValueError(
                    f'input {self.name!r}: norm has {len(mean)} means and {len(std)} stds for '
                    f'{self.channels} channels'
                )
            self._stats = (mean, std)
        return self._stats

    def bands_or_default(self, count: int) -> list[int]:
        """The bands to read from a file of ``count`` bands per date."""
        if self.bands is not None:
            return list(self.bands)
        return list(range(1, (self.channels or count) + 1))


@dataclass
class SceneSpec:
    """The model's inputs; ``inputs[0]`` is the reference (the output grid is its grid).

    ``valid_dates``: the nodata rule of a series reference, the output is defined where some
    date (``'any'``) or every date (``'all'``, both dates of a change pair) holds data.
    ``policy``: how the files are opened (``POLICIES``; ``'exact'`` for a change detector).
    """

    inputs: list[ModalityInput] = field(default_factory=list)
    valid_dates: str = 'any'
    policy: str = 'ground'

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ValueError('a SceneSpec needs at least one input')
        if self.valid_dates not in VALID_DATES:
            raise ValueError(f'valid_dates must be one of {VALID_DATES}, got {self.valid_dates!r}')
        if self.policy not in POLICIES:
            raise ValueError(f'policy must be one of {POLICIES}, got {self.policy!r}')
        names = [m.name for m in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError(f'input names must be unique, got {names}')
        if self.inputs[0].scale != 1:
            raise ValueError(f'the reference input {names[0]!r} must have scale 1')

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.inputs]

    @property
    def reference(self) -> ModalityInput:
        return self.inputs[0]

    def __getitem__(self, name: str) -> ModalityInput:
        for m in self.inputs:
            if m.name == name:
                return m
        raise KeyError(f'the model takes no input {name!r}; its inputs are {self.names}')


def _type_name(cfg: Any) -> str:
    name = cfg.get('type', '') if isinstance(cfg, Mapping) else ''
    return name.split('.')[-1] if isinstance(name, str) else getattr(name, '__name__', '')


def _test_pipeline(cfg: Any) -> list:
    """The test pipeline of a config (``test_pipeline`` or the test dataloader's)."""
    pipeline = cfg.get('test_pipeline')
    if pipeline:
        return list(pipeline)
    for key in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset') or {}
        while isinstance(dataset, Mapping) and 'pipeline' not in dataset and 'dataset' in dataset:
            dataset = dataset['dataset']  # wrappers (RepeatDataset, ...)
        if isinstance(dataset, Mapping) and dataset.get('pipeline'):
            return list(dataset['pipeline'])
    return []


def _loader(pipeline: Sequence) -> Mapping | None:
    for step in pipeline:
        if _type_name(step) in (
            'LoadTimeSeries',
            'LoadMultiBandImage',
            'LoadImageFromFile',
            'LoadImagePair',
        ):
            return step
    return None


def trained_on_bgr(cfg: Any) -> bool:
    """Whether the model saw BGR images in training: its test pipeline loads them with
    OpenCV's ``LoadImageFromFile`` (which gives BGR) and names no bands. The one channel-order
    rule of scene inference: such a model is handed a scene's RGB bands reversed."""
    loader = _loader(_test_pipeline(cfg)) or {}
    return _type_name(loader) == 'LoadImageFromFile' and loader.get('bands') is None


def is_change_detector(cfg: Any) -> bool:
    """A change detector: its test pipeline loads an image pair (``LoadImagePair``), or its
    model is a ``SiameseEncoderDecoder`` or has a ``ChangeDetDataPreprocessor``."""
    model = cfg.get('model') or {}
    return (
        _type_name(_loader(_test_pipeline(cfg)) or {}) == 'LoadImagePair'
        or _type_name(model) == 'SiameseEncoderDecoder'
        or _type_name(model.get('data_preprocessor') or {}) == 'ChangeDetDataPreprocessor'
    )


def task_of(cfg: Any) -> str:
    """The task kind of a config's model (``TASKS``): a detector has a ``roi_head`` or a
    ``bbox_head``; a change detector (``is_change_detector``); a classifier a ``head`` and no
    ``decode_head``; anything else gives a class map as a segmentor does."""
    model = cfg.get('model') or {}
    if 'roi_head' in model or 'bbox_head' in model:
        return 'detection'
    if is_change_detector(cfg):
        return 'change'
    if 'head' in model and 'decode_head' not in model:
        return 'classification'
    return 'segmentation'


def _dataset_metainfo(cfg: Any) -> list[Mapping]:
    """The metainfo of the config's test dataset: as stated, then its class's ``METAINFO``."""
    found = []
    for key in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset') or {}
        while isinstance(dataset, Mapping) and 'metainfo' not in dataset and 'dataset' in dataset:
            dataset = dataset['dataset']  # wrappers (RepeatDataset, ...)
        if not isinstance(dataset, Mapping):
            continue
        found.append(dataset.get('metainfo') or {})
        if dataset.get('type'):
            from mmskysense.registry import DATASETS

            try:
                cls = DATASETS.get(dataset['type'])
            except KeyError:  # a scope not registered here
                cls = None
            found.append(getattr(cls, 'METAINFO', None) or {})
    return found


def classes_of(
    cfg: Any,
    meta: Mapping | None = None,
    default: Sequence[str] | None = None,
    default_palette: Sequence[Sequence[int]] | None = None,
) -> tuple[list[str], list | None]:
    """The model's class names and palette, the one way every scene path reads them: the
    checkpoint's ``dataset_meta`` (``meta``), then the config's ``class_names`` / ``palette``,
    its test dataset's ``metainfo``, that dataset class's ``METAINFO``, then ``default``. The
    palette comes from the source of the names (``default_palette`` for the default names).

    Raises:
        ValueError: no source names the classes and there is no default.
    """
    sources = [meta or {}, dict(classes=cfg.get('class_names'), palette=cfg.get('palette'))]
    sources += _dataset_metainfo(cfg)
    for source in sources:
        if source.get('classes'):
            classes = list(source['classes'])
            palette = source.get('palette')
            if palette is None and default is not None and classes == list(default):
                palette = default_palette
            return classes, [list(c) for c in palette] if palette else None
    if default is not None:
        return list(default), [list(c) for c in default_palette] if default_palette else None
    raise ValueError(
        'the checkpoint holds no dataset_meta.classes, the config no class_names and its test '
        'dataset no classes: cannot name the classes'
    )


def scene_spec(cfg: Any, bands: Sequence[int] | None = None, task: str | None = None) -> SceneSpec:
    """``scene_spec_from_config`` with a caller's ``bands`` and ``task``.

    ``bands``: 1-based bands of the scene for a model with one input, in RGB order for a model
    trained on 3-band images: a model trained on OpenCV's BGR (``trained_on_bgr``) gets them
    reversed, as it gets the default bands. ``task='change'``: the input is a change pair (two
    dates, defined where both hold data, the exact-grid policy) whatever the config says.
    """
    spec = scene_spec_from_config(cfg)
    ref = spec.reference
    if bands is not None:
        if len(spec.inputs) > 1:
            raise ValueError('bands are for a model with one input; state scene_inputs instead')
        bands = list(bands)
        if len(bands) == 3 and trained_on_bgr(cfg):
            bands = bands[::-1]
        # plain positions: read as given, no band name is checked
        ref.bands, ref.channels = bands, len(bands)
        ref.band_names = ref.wavelengths = None
    if task == 'change':
        if len(spec.inputs) > 1:
            raise ValueError(f'a change detector takes one input (a pair), not {spec.names}')
        ref.num_dates, spec.valid_dates, spec.policy = 2, 'all', 'exact'
    return spec


def _modality_set(stated: Mapping, cfg: Any) -> list[dict]:
    """A family's inputs by modality (``scene_inputs = dict(hr=dict(...), s2=...)``) -> those
    of the config's ``modalities`` (its Table 3 row), in that order: the first is the reference
    and every scale is divided by its scale (scales are stated against the family's label
    grid)."""
    names = list(cfg.get('modalities') or (cfg.get('model') or {}).get('modalities') or stated)
    unknown = [n for n in names if n not in stated]
    if unknown:
        raise ValueError(f'scene_inputs states no input for the modalities {unknown}')
    ref_scale = float(stated[names[0]].get('scale', 1.0))
    return [
        dict(stated[n], name=n, scale=float(stated[n].get('scale', 1.0)) / ref_scale) for n in names
    ]


def scene_spec_from_config(cfg: Any) -> SceneSpec:
    """The model's inputs, from ``cfg.scene_inputs`` or derived from a single-modal config."""
    stated = cfg.get('scene_inputs')
    if stated:
        if isinstance(stated, Mapping):
            stated = _modality_set(stated, cfg)
        model = cfg.get('model') or {}
        inputs = []
        for m in stated:
            m = dict(m)
            if m.get('norm') is None and m.get('value_stats') is None:
                m['value_stats'] = _preprocessor_stats(model, m.get('name'))
            inputs.append(ModalityInput(**m))
        return SceneSpec(inputs, cfg.get('scene_valid_dates', 'any'))
    model = cfg.get('model') or {}
    backbone = model.get('backbone') or {}
    name = backbone.get('modality')
    if name is None and 'modalities' in backbone:
        raise ValueError(
            'the model takes several modalities (its backbone has no single `modality`): state '
            "its inputs in the config, e.g. scene_inputs = [dict(name='hr', bands=[1, 2, 3]), "
            "dict(name='s2', num_dates=6, bands=[...], scale=1/8)] (docs/interfaces.md)"
        )
    name = name or 'img'
    loader = _loader(_test_pipeline(cfg)) or {}
    kind = _type_name(loader)
    bands = loader.get('bands')
    channels = loader.get('num_bands')
    if trained_on_bgr(cfg):
        # OpenCV loaded the training images as BGR: hand the scene's RGB bands over reversed
        bands = [3, 2, 1]
    if channels is None:
        modalities = backbone.get('modalities') or {}
        if name in modalities and modalities[name].get('in_channels'):
            channels = modalities[name]['in_channels']
        elif backbone.get('in_channels'):
            channels = backbone['in_channels']
        elif bands is not None:
            channels = len(bands)
        else:
            # the modality table's channels (None for a name it does not know, e.g. 'img')
            channels = modality(name).channels if name in modality_names() else None
    num_dates, select, valid_dates, policy = None, 'even', 'any', 'ground'
    if is_change_detector(cfg):  # the two dates stacked date-major, never resampled
        num_dates, valid_dates, policy = 2, 'all', 'exact'
    elif 'bands_per_date' in model or kind == 'LoadTimeSeries':
        channels = model.get('bands_per_date', channels)
        num_dates = loader.get('num_dates') or cfg.get('num_dates')
        select = loader.get('select', 'even')
        if num_dates is None:
            raise ValueError(
                'the model takes a series but the config names no number of dates: give its '
                'test pipeline a LoadTimeSeries(num_dates=...) or state scene_inputs'
            )
    stats = _preprocessor_stats(model)
    return SceneSpec(
        [
            ModalityInput(
                name,
                channels,
                num_dates,
                list(bands) if bands else None,
                1.0,
                select,
                band_names=cfg.get('band_names'),
                value_stats=stats,
            )
        ],
        valid_dates,
        policy,
    )


def _preprocessor_stats(
    model: Mapping, name: str | None = None
) -> tuple[list[float], list[float]] | None:
    """The ``(mean, std)`` a model's data preprocessor standardises its input with (a
    multi-modal one's of the modality ``name``): the values it was trained on, as stored."""
    pre = model.get('data_preprocessor') or {}
    mean, std = pre.get('mean'), pre.get('std')
    if isinstance(mean, Mapping) and isinstance(std, Mapping):
        mean, std = mean.get(name), std.get(name)
    if not isinstance(mean, Sequence) or not isinstance(std, Sequence) or len(mean) != len(std):
        return None
    return [float(v) for v in mean], [float(v) for v in std]
