"""The modality table: what the model, the pipeline and the tools know of each modality.

One entry per modality name (the key of every modality dict, from the index file to the batch):
its bands, the backbone's tokenizer kind, whether it is a time series, its ground sampling
relative to HR, how its stored numbers are scaled and how the data preprocessor normalises
them. Every default that names modalities reads this table when it is built (the backbone's
tokenizers, the index's fields, the crop's view sizes, the temporal sampling, the packer, the
data preprocessor's statistics, the scene spec's channels), so adding a modality is one entry
here (``register_modality``, or ``registered_modality`` for the length of a ``with`` block).

The date selector of every series loader (pretraining, downstream, scenes) is here too:
``select_dates``.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

KINDS = ('hr', 'ms')
#: how a series loader picks ``k`` of ``t`` dates (``select_dates``); downstream loaders and
#: scenes take the deterministic ones, pretraining draws at random
DETERMINISTIC_SELECTIONS = ('even', 'first', 'last')
DATE_SELECTIONS = DETERMINISTIC_SELECTIONS + ('random',)


@dataclass(frozen=True)
class Modality:
    """One row of the table.

    Attributes:
        name: the key of the modality everywhere (``'hr'``, ``'s2'``, ...).
        channels: bands per date the backbone's tokenizer takes.
        kind: ``'hr'`` (stages downsample, strides 4..32) or ``'ms'`` (stride 4 at every stage,
            Adaptive Patch Merging keeps the resolution).
        series: a time series (``T`` dates per sample, date masks and day-of-year) or one
            acquisition.
        gsd_ratio: HR view pixels per pixel of this modality's view over the same ground (the
            pretraining contract: an MS stride-4 token covers an HR stride-32 token, so 8).
        frames: dates sampled per pretraining iteration (series only; paper: 10 S2, 5 S1).
        bands: band names in order, where known.
        mean, std: per-band statistics of the scaled values (data preprocessor).
        scaling: stored numbers -> scaled values, ``dict(scale=, offset=, linear_to_db=)``
            (``datasets.geo.scaling.ModalityScaling``; docs/data_format.md).
    """

    name: str
    channels: int
    kind: str
    series: bool
    gsd_ratio: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    frames: int | None = None
    bands: tuple[str, ...] | None = None
    scaling: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f'modality {self.name!r}'
        if self.kind not in KINDS:
            raise ValueError(f'{where}: kind must be one of {KINDS}, got {self.kind!r}')
        if self.channels < 1 or self.gsd_ratio < 1:
            raise ValueError(
                f'{where}: channels and gsd_ratio must be >= 1, got {self.channels}, '
                f'{self.gsd_ratio}'
            )
        for what, values in (('mean', self.mean), ('std', self.std), ('bands', self.bands)):
            if values is not None and len(values) != self.channels:
                raise ValueError(
                    f'{where}: {len(values)} {what} values for {self.channels} channels'
                )
        if any(s <= 0 for s in self.std):
            raise ValueError(f'{where}: std must be positive, got {self.std}')
        if self.series != (self.frames is not None):
            raise ValueError(f'{where}: a series needs `frames` (dates per iteration), else None')


# statistics in the pipeline's scaled units (docs/data_format.md): HR 0..255 RGB (ImageNet),
# S2 L2A reflectance B2..B12, S1 sigma0 dB (VV, VH)
_TABLE: dict[str, Modality] = {
    m.name: m
    for m in (
        Modality(
            'hr',
            channels=3,
            kind='hr',
            series=False,
            gsd_ratio=1,
            bands=('R', 'G', 'B'),
            mean=(123.675, 116.28, 103.53),
            std=(58.395, 57.12, 57.375),
        ),
        Modality(
            's2',
            channels=10,
            kind='ms',
            series=True,
            gsd_ratio=8,
            frames=10,
            bands=('B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8', 'B8A', 'B11', 'B12'),
            mean=(0.0582, 0.0853, 0.0827, 0.1232, 0.2219, 0.2593, 0.2743, 0.2868, 0.2255, 0.1467),
            std=(0.0341, 0.0382, 0.0523, 0.0527, 0.0695, 0.0815, 0.0856, 0.0882, 0.0924, 0.0853),
            scaling=dict(scale=1e-4),
        ),
        Modality(
            's1',
            channels=2,
            kind='ms',
            series=True,
            gsd_ratio=8,
            frames=5,
            bands=('VV', 'VH'),
            mean=(-12.5, -20.0),
            std=(5.0, 5.5),
        ),
    )
}


def modality(name: str) -> Modality:
    """The table's row of ``name``; a ``KeyError`` that lists the known names otherwise."""
    try:
        return _TABLE[name]
    except KeyError:
        raise KeyError(
            f'unknown modality {name!r}; the modality table (mmskysense/structures/'
            f'modalities.py) knows {list(_TABLE)}'
        ) from None


def modality_names(names: Sequence[str] | None = None) -> tuple[str, ...]:
    """``names`` checked against the table (None: every modality, in the table's order)."""
    if names is None:
        return tuple(_TABLE)
    return tuple(modality(n).name for n in names)


def series_names(names: Sequence[str] | None = None) -> tuple[str, ...]:
    """The time-series modalities among ``names`` (None: the table's)."""
    return tuple(n for n in modality_names(names) if _TABLE[n].series)


def is_series(name: str) -> bool:
    return modality(name).series


def register_modality(entry: Modality, replace: bool = False) -> None:
    """Add ``entry`` to the table (``replace`` an existing row only when asked)."""
    if entry.name in _TABLE and not replace:
        raise ValueError(f'modality {entry.name!r} is already in the table')
    _TABLE[entry.name] = entry


def unregister_modality(name: str) -> Modality:
    """Remove ``name`` from the table and return its row."""
    modality(name)
    return _TABLE.pop(name)


@contextmanager
def registered_modality(entry: Modality) -> Iterator[Modality]:
    """The table with ``entry`` added for the ``with`` block (tests, experiments)."""
    register_modality(entry)
    try:
        yield entry
    finally:
        _TABLE.pop(entry.name, None)


def select_dates(
    num_available: int, num: int, select: str = 'even', rng: Any = np.random
) -> list[int]:
    """Indices (in time order) of the ``num`` dates a loader keeps of ``num_available``.

    ``'even'`` spreads them over the series (deterministic), ``'first'`` / ``'last'`` take the
    earliest / latest, ``'random'`` draws ``num`` distinct dates from ``rng``. A series of at most
    ``num`` dates is kept whole (the caller pads it).
    """
    if select not in DATE_SELECTIONS:
        raise ValueError(f'date selection must be one of {DATE_SELECTIONS}, got {select!r}')
    if num < 1:
        raise ValueError(f'the number of dates must be >= 1, got {num}')
    if num_available <= num:
        return list(range(num_available))
    if select == 'first':
        return list(range(num))
    if select == 'last':
        return list(range(num_available - num, num_available))
    if select == 'random':
        return np.sort(rng.choice(num_available, size=num, replace=False)).tolist()
    return np.linspace(0, num_available - 1, num).round().astype(int).tolist()


def backbone_modalities(names: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """``name -> dict(in_channels, kind)``: the backbone's ``modalities`` argument for ``names``
    (None: the table's)."""
    return {
        n: dict(in_channels=_TABLE[n].channels, kind=_TABLE[n].kind) for n in modality_names(names)
    }
