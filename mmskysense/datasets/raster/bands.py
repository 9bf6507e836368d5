"""Bands by name: which bands of a file a model reads, the one place that decides it.

A model's input names its bands (``ModalityInput.band_names``, in the model's channel order; for
Sentinel-2 the ten of the paper, B02-B08, B8A, B11, B12). A file's bands are matched to them by
name, from the first source that has names:

1. plain 1-based positions the user gave (``--bands``): read as given, no name is checked;
2. a named preset (``PRESETS``: ``s2-l1c``, ``s2-l2a``, ``s2-10``, ``landsat8-oli``,
   ``planet-psscene``, ``naip``), the band layout of a product, chosen by the file's count;
3. names handed over with the file (a STAC item's ``eo:bands``: ``name`` / ``common_name``);
4. the file's band descriptions (GDAL's, e.g. ``'B04'``; a ``_YYYYMMDD`` suffix, as the
   pretraining format's multi-date files have, is dropped), when at least one names a band the
   model takes (descriptions such as ``'Band 1'`` count as no names);
5. no names: the family's canonical layout of that count (``CANONICAL``: the ten S2 bands in
   the paper's order, S1 VV, VH, HR R, G, B), or the config's positions when the file has the
   band count of the layout they index (``layout_of``: e.g. the 12-band L2A files of
   DynamicEarthNet). Any other count is an error listing the bands the model wants: never a
   guess.

A name matches when the names are equal (``normalise``: case, separators and leading zeros
ignored, ``B4`` is ``B04``) and their common names do not disagree, or when the common names
(STAC ``eo`` common names: ``red``, ``nir08``, ``swir16``, ...) are equal; so a Landsat ``B5``
(``nir08``) feeds Sentinel-2's ``B8A``, never its ``B05``. A band the model takes that the file
lacks is an error naming it (never a zero band); a band the model does not take is dropped.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import GeoSampleError


@dataclass(frozen=True)
class Band:
    """One band: its ``name``, STAC ``eo`` ``common_name`` and centre ``wavelength`` (nm)."""

    name: str
    common_name: str | None = None
    wavelength: float | None = None

    def label(self) -> str:
        return f'{self.name} ({self.wavelength:g} nm)' if self.wavelength else self.name


# Sentinel-2 MSI (S2A centre wavelengths, ESA's spectral response functions)
_S2 = {
    b.name: b
    for b in (
        Band('B01', 'coastal', 442.7),
        Band('B02', 'blue', 492.4),
        Band('B03', 'green', 559.8),
        Band('B04', 'red', 664.6),
        Band('B05', 'rededge071', 704.1),
        Band('B06', 'rededge075', 740.5),
        Band('B07', 'rededge078', 782.8),
        Band('B08', 'nir', 832.8),
        Band('B8A', 'nir08', 864.7),
        Band('B09', 'nir09', 945.1),
        Band('B10', 'cirrus', 1373.5),
        Band('B11', 'swir16', 1613.7),
        Band('B12', 'swir22', 2202.4),
    )
}
# Landsat 8 OLI (USGS)
_OLI = (
    Band('B1', 'coastal', 443.0),
    Band('B2', 'blue', 482.0),
    Band('B3', 'green', 561.5),
    Band('B4', 'red', 654.5),
    Band('B5', 'nir08', 865.0),
    Band('B6', 'swir16', 1608.5),
    Band('B7', 'swir22', 2200.5),
    Band('B8', 'pan', 589.5),
    Band('B9', 'cirrus', 1373.5),
)
_RED, _GREEN, _BLUE, _NIR = (
    Band('R', 'red'),
    Band('G', 'green'),
    Band('B', 'blue'),
    Band('N', 'nir'),
)
# PlanetScope PSScene (docs.planet.com, PSScene band metadata): ortho_analytic_3b (Red, Green,
# Blue), ortho_analytic_4b (Blue, Green, Red, NIR), ortho_analytic_8b (SuperDove)
_PLANET4 = (
    Band('blue', 'blue', 490.0),
    Band('green', 'green', 565.0),
    Band('red', 'red', 665.0),
    Band('nir', 'nir', 865.0),
)
_PLANET8 = (
    Band('coastal_blue', 'coastal', 443.0),
    Band('blue', 'blue', 490.0),
    Band('green_i', None, 531.0),
    Band('green', 'green', 565.0),
    Band('yellow', 'yellow', 610.0),
    Band('red', 'red', 665.0),
    Band('rededge', 'rededge', 705.0),
    Band('nir', 'nir', 865.0),
)
S2_TEN = tuple(
    _S2[n] for n in ('B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12')
)
S1_BANDS = (Band('VV', 'vv'), Band('VH', 'vh'))

#: a product's band layouts, by band count: the file's bands in order
PRESETS: dict[str, dict[int, tuple[Band, ...]]] = {
    's2-l1c': {13: tuple(_S2.values())},  # SAFE order: B01-B08, B8A, B09, B10 (cirrus), B11, B12
    's2-l2a': {12: tuple(b for n, b in _S2.items() if n != 'B10')},  # no cirrus
    's2-10': {10: S2_TEN},  # the paper's ten, the pretraining format's order
    'landsat8-oli': {9: _OLI, 7: _OLI[:7]},  # OLI B1-B9; Collection 2 Level-2 SR B1-B7
    'planet-psscene': {3: (_PLANET4[2], _PLANET4[1], _PLANET4[0]), 4: _PLANET4, 8: _PLANET8},
    'naip': {4: (_RED, _GREEN, _BLUE, _NIR), 3: (_RED, _GREEN, _BLUE)},
}
#: the band table of each modality family (the names its inputs are given by)
FAMILIES: dict[str, tuple[Band, ...]] = {
    's2': tuple(_S2.values()),
    's1': S1_BANDS,
    'hr': (_RED, _GREEN, _BLUE, _NIR),
}
#: a family's layout of an unnamed file of that count (rule 5)
CANONICAL: dict[str, dict[int, tuple[Band, ...]]] = {
    's2': {10: S2_TEN},
    's1': {2: S1_BANDS},
    'hr': {3: (_RED, _GREEN, _BLUE)},
}
_PRESETS_OF = {'s2': ('s2-10', 's2-l2a', 's2-l1c'), 'hr': ('naip', 'planet-psscene')}


def normalise(name: str) -> str:
    """A band name compared: case, spaces, ``_`` and ``-`` ignored, a ``_YYYYMMDD`` date suffix
    dropped, ``B04`` is ``B4`` (``B08A`` is ``B8A``)."""
    text = re.sub(r'_\d{8}$', '', str(name).strip())
    text = re.sub(r'[\s_\-]', '', text).lower()
    return re.sub(r'^b0*(\d+a?)$', r'b\1', text)


def family_bands(names: Sequence[str], family: str | None = None) -> list[Band]:
    """The ``Band`` of each name: from the family's table (``FAMILIES``) when it has the name,
    else a band of that name alone (no common name, no wavelength)."""
    table = {normalise(b.name): b for b in FAMILIES.get(family or '', ())}
    for b in FAMILIES.get(family or '', ()):
        if b.common_name:
            table.setdefault(normalise(b.common_name), b)
    return [table.get(normalise(n), Band(str(n))) for n in names]


def preset_bands(preset: str, count: int, where: str = '') -> tuple[Band, ...]:
    """The bands of a file of ``count`` bands under ``preset``."""
    if preset not in PRESETS:
        raise ValueError(f'unknown band preset {preset!r}; the presets are {sorted(PRESETS)}')
    layouts = PRESETS[preset]
    if count not in layouts:
        counts = ' or '.join(str(c) for c in sorted(layouts))
        raise GeoSampleError(
            f'{where}: has {count} bands; the band preset {preset!r} has {counts}', where
        )
    return layouts[count]


def _as_band(entry: object) -> Band | None:
    """A file's band as given: a ``Band``, a name, a STAC ``eo:bands`` dict or None."""
    if entry is None or isinstance(entry, Band):
        return entry
    if isinstance(entry, Mapping):
        name = entry.get('name') or entry.get('common_name')
        if not name:
            return None
        wl = entry.get('center_wavelength')
        # STAC gives micrometres
        wl = float(wl) * 1000 if wl is not None and float(wl) < 100 else wl
        return Band(str(name), entry.get('common_name'), wl)
    text = str(entry).strip()
    return Band(text) if text else None


# STAC eo 1.x names Sentinel-2's three red-edge bands alike, 'rededge'; the later common names
# (rededge071 / 075 / 078) tell them apart: the general name does not disagree with them
_GENERAL_COMMON = {'rededge': re.compile(r'rededge\d{3}$')}


def _commons_agree(a: str, b: str) -> bool:
    if a == b:
        return True
    return any(
        g in (a, b) and pattern.match(b if a == g else a) is not None
        for g, pattern in _GENERAL_COMMON.items()
    )


def _score(want: Band, have: Band) -> int:
    """How well a file's band matches a model's: 2 name and common name, 1 one of them, 0 no
    match (names equal but common names disagree is no match)."""
    wn, hn = normalise(want.name), normalise(have.name)
    wc = normalise(want.common_name) if want.common_name else None
    hc = normalise(have.common_name) if have.common_name else None
    if wc and hc and not _commons_agree(wc, hc):
        return 0
    if wn == hn:
        return 2 if wc and wc == hc else 1
    return int(bool((wc and wc in (hn, hc)) or (hc and hc == wn)))


def match_bands(
    wanted: Sequence[Band | str],
    available: Sequence[object],
    where: str = '',
    family: str | None = None,
) -> list[int]:
    """The 1-based bands of a file to read for the model's ``wanted`` bands, in their order.

    Args:
        wanted: the model's bands (``Band`` or names, looked up in ``family``'s table).
        available: the file's bands in order: names, STAC ``eo:bands`` dicts (``name``,
            ``common_name``, ``center_wavelength``), ``Band`` or None for an unnamed band.
        where: the file (or asset), for the error.

    Raises:
        GeoSampleError: a wanted band the file lacks (named), or matched by two file bands.
    """
    want = [w if isinstance(w, Band) else family_bands([w], family)[0] for w in wanted]
    have = [_as_band(a) for a in available]
    picked, missing = [], []
    for w in want:
        scores = [(_score(w, h) if h else 0, i) for i, h in enumerate(have)]
        best = max(s for s, _ in scores)
        hits = [i for s, i in scores if s == best and s > 0]
        if not hits:
            missing.append(w.label())
            continue
        if len(hits) > 1:
            names = [have[i].name for i in hits]
            raise GeoSampleError(
                f'{where}: bands {[i + 1 for i in hits]} ({names}) all match the band '
                f'{w.name} the model takes; name the bands to read (--bands)',
                where,
            )
        picked.append(hits[0] + 1)
    if missing:
        listed = ', '.join(h.name if h else '(unnamed)' for h in have)
        raise GeoSampleError(
            f'{where}: lacks the band(s) {", ".join(missing)} that the model takes (its bands: '
            f'{", ".join(w.name for w in want)}); the file has {listed}. A missing band is '
            'never filled with zeros: give a file holding it',
            where,
        )
    return picked


def layout_of(
    wanted: Sequence[Band], positions: Sequence[int], family: str | None
) -> list[tuple[str, int]]:
    """The presets (name, band count) of ``family`` whose bands at the 1-based ``positions``
    are ``wanted``: the layout a config's positions index (its training files')."""
    found = []
    for name in _PRESETS_OF.get(family or '', ()):
        for count, bands in PRESETS[name].items():
            if max(positions) <= count and all(
                _score(w, bands[p - 1]) for w, p in zip(wanted, positions)
            ):
                found.append((name, count))
    return found


def names_of_descriptions(descriptions: Sequence[str | None], wanted: Sequence[Band]) -> list:
    """A file's band descriptions as names, or [] when none of them names a wanted band
    (GDAL's ``'Band 1'``, a class map's ``'class'``: no band names)."""
    bands = [_as_band(d) for d in descriptions]
    if any(h is not None and _score(w, h) for w in wanted for h in bands):
        return bands
    return []


def resolve_bands(
    count: int,
    wanted_names: Sequence[str] | None,
    family: str | None = None,
    positions: Sequence[int] | None = None,
    positions_given: bool = False,
    preset: str | None = None,
    names: Sequence[object] | None = None,
    descriptions: Sequence[str | None] | None = None,
    where: str = '',
) -> tuple[list[int], str]:
    """The 1-based bands to read from a file of ``count`` bands (per date), and how they were
    chosen (the module's rules, in order), for the mapping printed to the user.

    Args:
        wanted_names: the model's band names (None: positions only, as stated or ``1..n``).
        positions: the config's 1-based positions (of its training files' layout), or the
            user's when ``positions_given``.
        preset, names, descriptions: the file's band names from a preset, a STAC item, GDAL.
    """
    if preset is not None and (positions_given or not wanted_names):
        raise ValueError(
            f'{where}: the band preset {preset!r} matches bands by name, but the input names no '
            'bands (plain positions: --bands, or a config without band_names)'
        )
    if positions_given or not wanted_names:
        if positions is None:
            n = len(wanted_names) if wanted_names else count
            positions = list(range(1, n + 1))
        how = 'positions given' if positions_given else 'positions of the config'
        return list(positions), how
    wanted = family_bands(wanted_names, family)
    if preset is not None:
        return match_bands(wanted, preset_bands(preset, count, where), where), f'preset {preset}'
    if names:
        if len(names) != count:
            raise GeoSampleError(f'{where}: {len(names)} band names given for {count} bands', where)
        return match_bands(wanted, names, where), 'band names given'
    named = names_of_descriptions(descriptions or [], wanted)
    if named:
        return match_bands(wanted, named, where), 'band descriptions'
    canonical = CANONICAL.get(family or '', {}).get(count)
    if canonical is not None:
        return match_bands(wanted, canonical, where), f'{count} unnamed bands, in the order ' + (
            ', '.join(b.name for b in canonical)
        )
    layouts = []
    if positions is not None:
        layouts = layout_of(wanted, positions, family)
        if any(c == count for _, c in layouts) or (not layouts and max(positions) <= count):
            name = next((n for n, c in layouts if c == count), None)
            return list(positions), f'positions of the config ({name or "its files"} layout)'
    want = ', '.join(b.label() for b in wanted)
    trained = ''
    if layouts:
        trained = f" (the config's positions {list(positions)} index {layouts[0][1]}-band files"
        trained += f' of the {layouts[0][0]} layout)'
    raise GeoSampleError(
        f'{where}: has {count} bands and no band names (no band descriptions){trained}; the '
        f'model takes {len(wanted)} bands: {want}. Say which bands these are: a band preset '
        f'(--band-preset {"|".join(sorted(PRESETS))}), band descriptions in the file, or '
        'their 1-based positions in that order (--bands)',
        where,
    )
