"""What a model expects of a scene: its modalities, bands and dates, from its config.

A ``SceneSpec`` lists the model's inputs (``ModalityInput``); the first is the reference, whose
grid the output takes. A config may state them (``scene_inputs = [dict(name='hr', ...), ...]``,
which multi-modal models must do); for a single-modal model they are derived from the config:
the backbone's modality, the temporal wrapper's ``bands_per_date`` and the test pipeline's loader
(``LoadTimeSeries``, ``LoadMultiBandImage`` or OpenCV's ``LoadImageFromFile``), so that the model
is given the bands, in the order and number of dates, it was trained with. A change detector
(``LoadImagePair``) takes a two-date series, defined where both dates hold data.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmskysense.structures.modalities import DETERMINISTIC_SELECTIONS, modality, modality_names

VALID_DATES = ('any', 'all')


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
    """

    name: str
    channels: int | None = None
    num_dates: int | None = None
    bands: list[int] | None = None
    scale: float = 1.0
    select: str = 'even'

    def __post_init__(self) -> None:
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
    """

    inputs: list[ModalityInput] = field(default_factory=list)
    valid_dates: str = 'any'

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ValueError('a SceneSpec needs at least one input')
        if self.valid_dates not in VALID_DATES:
            raise ValueError(f'valid_dates must be one of {VALID_DATES}, got {self.valid_dates!r}')
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


def scene_spec_from_config(cfg: Any) -> SceneSpec:
    """The model's inputs, from ``cfg.scene_inputs`` or derived from a single-modal config."""
    stated = cfg.get('scene_inputs')
    if stated:
        return SceneSpec(
            [ModalityInput(**dict(m)) for m in stated], cfg.get('scene_valid_dates', 'any')
        )
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
    num_dates, select, valid_dates = None, 'even', 'any'
    if kind == 'LoadImagePair':  # a change detector: the two dates stacked date-major
        num_dates, valid_dates = 2, 'all'
    elif 'bands_per_date' in model or kind == 'LoadTimeSeries':
        channels = model.get('bands_per_date', channels)
        num_dates = loader.get('num_dates') or cfg.get('num_dates')
        select = loader.get('select', 'even')
        if num_dates is None:
            raise ValueError(
                'the model takes a series but the config names no number of dates: give its '
                'test pipeline a LoadTimeSeries(num_dates=...) or state scene_inputs'
            )
    return SceneSpec(
        [ModalityInput(name, channels, num_dates, list(bands) if bands else None, 1.0, select)],
        valid_dates,
    )
