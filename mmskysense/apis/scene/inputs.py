"""A scene opened for a model: its files per input, the output grid, and tiles read from it.

Every input kind is the same thing here: an input (``ModalityInput``) is a list of *frames*
``(path, bands)``, one per date: a single raster is one frame, a series is one file per date or
one multi-date file (``T x bands-per-date`` bands, date-major, as the pretraining format has
them), and several modalities each on its own grid (HR, S2, S1) are several inputs. The output
grid is the reference input's grid (the first date of the first input), restricted to the whole
pixels inside every file. How the files are placed is the opening policy (``SceneSpec.policy``,
docs/interfaces.md): under ``'ground'`` (modality sets, series) a tile of the grid is a ground
box that each file is read for through its own transform (``GroundWindowReader``), so grids of
any resolution and offset are aligned by ground windows as the pretraining reader aligns them;
under ``'exact'`` (a change pair, never resampled) every file must share the reference's CRS,
pixel size and pixel grid up to a whole-pixel offset, and a tile is that window of each file.
"""

import datetime
import os.path as osp
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmskysense.datasets.raster import (
    PRESETS,
    GroundWindowReader,
    RasterError,
    RasterHandleCache,
    check_bands,
    check_north_up,
    crs_name,
    grid_box,
    is_virtual,
    open_raster,
    overlap_window,
    read_window,
    resolve_bands,
)
from mmskysense.datasets.tiling import Tile, TileGrid
from mmskysense.structures.dates import date_code
from mmskysense.structures.modalities import select_dates

from .spec import POLICIES, VALID_DATES, ModalityInput, SceneSpec

#: how far two pixel sizes (relative) and a grid offset (in pixels) may be from equal and whole
_GRID_TOL, _OFFSET_TOL = 1e-6, 1e-3


@dataclass
class Frame:
    """One date of an input: ``bands`` (1-based) of ``path``; ``doy`` its day of year (0 when
    the file carries no date), ``date`` the date itself (None without one)."""

    path: str
    bands: list[int]
    doy: int = 0
    date: datetime.date | None = None


@dataclass
class TileBatch:
    """The inputs of ``N`` tiles, as read for the model (docs/interfaces.md).

    ``inputs[name]`` is ``N x C x h x w`` (``N x T x C x h x w`` for a series), in the files'
    dtype where every frame is read as whole pixels of its file, float32 where resampled;
    ``valid[name]`` ``N x h x w`` (``N x T x h x w``): the pixel holds data in some band;
    ``date_mask[name]`` (series) ``N x T``: the date exists and holds data in the tile;
    ``doy[name]`` (series) ``T`` days of year (0 unknown or padded); ``out_valid``
    ``N x tile_h x tile_w``: where the output is defined.
    """

    tiles: list[Tile]
    inputs: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    date_mask: dict[str, np.ndarray]
    doy: dict[str, np.ndarray]
    out_valid: np.ndarray

    def __len__(self) -> int:
        return len(self.tiles)

    def select(self, keep: Sequence[int]) -> 'TileBatch':
        """The batch of the tiles at positions ``keep``."""
        idx = np.asarray(keep, dtype=np.int64)
        return TileBatch(
            [self.tiles[i] for i in idx],
            {k: v[idx] for k, v in self.inputs.items()},
            {k: v[idx] for k, v in self.valid.items()},
            {k: v[idx] for k, v in self.date_mask.items()},
            dict(self.doy),
            self.out_valid[idx],
        )


class ScaleWarning(UserWarning):
    """A scene's values are orders of magnitude from those the model was normalised for."""


def _expected_stats(m: ModalityInput, channels: int) -> tuple[np.ndarray, np.ndarray] | None:
    stats = m.norm_stats() if m.norm is not None else m.value_stats
    if stats is None:
        return None
    mean, std = (np.asarray(v, np.float64).reshape(-1) for v in stats)
    if len(mean) != len(std) or not len(mean) or len(mean) % channels:
        return None  # not per band of this input: nothing to compare
    return mean[:channels], std[:channels]


def check_value_scale(spec: SceneSpec, batch: TileBatch, factor: float = 10.0) -> list[str]:
    """The scale guard: per input whose normalisation is known (``norm``, ``value_stats``),
    the root mean square of the batch's valid values per band against that of the values the
    model was normalised for (``sqrt(mean^2 + std^2)``); the median ratio over the bands, when
    ``factor`` or more apart either way, is a message saying by how much (e.g. reflectance
    0-0.5 handed to a model of digital numbers x 10^4). [] when the scales agree."""
    messages = []
    for m in spec.inputs:
        data, ok = batch.inputs.get(m.name), batch.valid.get(m.name)
        if data is None:
            continue
        channels = data.shape[-3]
        expected = _expected_stats(m, channels)
        if expected is None:
            continue
        data = data.reshape(-1, channels, *data.shape[-2:])
        ok = ok.reshape(-1, *ok.shape[-2:])
        if not ok.any():
            continue
        ratios = []
        for c in range(channels):
            values = data[:, c][ok].astype(np.float64)
            observed = float(np.sqrt(np.mean(values**2)))
            wanted = float(np.hypot(expected[0][c], expected[1][c]))
            if observed > 0 and wanted > 0:
                ratios.append(wanted / observed)
        if not ratios:
            continue
        ratio = float(np.median(ratios))
        if ratio >= factor or ratio <= 1 / factor:
            what = f'{ratio:.0f} times smaller' if ratio > 1 else f'{1 / ratio:.0f} times larger'
            messages.append(
                f'{m.name}: the values of the first tiles are about {what} than those the model '
                f'was normalised for (band means {np.round(expected[0], 4).tolist()}): the '
                f'input looks to be on another scale (e.g. reflectance 0-1 given to a model of '
                f'digital numbers x 10^4); rescale it (x {ratio:.3g}), or the output '
                'means nothing'
            )
    return messages


def _pixel_grid(crs: Any, transform: Any) -> bool:
    """A raster without georeferencing (no CRS, rasterio's identity transform): its own pixel
    grid, rows down, is the output grid (a single-file scene only)."""
    return crs is None and transform.is_identity


def _check_pixel_grids(plain: list[str], headers: dict, policy: str) -> None:
    """Several files and some without georeference: only a pair on the exact-grid policy (a
    change pair of PNG / JPEG photos) whose files all lack it and share one size is placed,
    pixel on pixel; anything else is refused naming the file."""
    if policy != 'exact' or len(plain) != len(headers):
        raise RasterError(
            f'{plain[0]}: has no georeferencing (no CRS, no transform); the files of this scene '
            'are aligned on the ground, so each must be georeferenced (files without '
            'georeference are read pixel on pixel only as a change pair of one size)',
            plain[0],
        )
    first, (_, _, h, w, _) = plain[0], headers[plain[0]]
    for path in plain[1:]:
        if headers[path][2:4] != (h, w):
            raise RasterError(
                f'{path}: is {headers[path][2]} x {headers[path][3]} px but {first} is {h} x {w}; '
                'files without georeference are placed pixel on pixel, so they must have the '
                'same size',
                path,
            )


def _dates_of(path: str, src: Any) -> list[datetime.date]:
    """A file's dates (tags or name), [] when it carries none."""
    from mmskysense.datasets.geo.index import file_dates
    from mmskysense.datasets.raster import GeoSampleError

    try:
        return file_dates(path, dict(tags=src.tags()))
    except GeoSampleError:
        return []


def _in_date_order(m: ModalityInput, frames: list[Frame]) -> list[Frame]:
    """A series' frames in date order whatever the order of the paths (a glob of ``S2A_*``
    and ``S2B_*`` products sorts by satellite first); dateless files keep the order given,
    and a series mixing dated and dateless files cannot be ordered: refused naming them."""
    dateless = sorted({f.path for f in frames if f.date is None})
    if len(dateless) == len({f.path for f in frames}):
        return frames
    if dateless:
        raise RasterError(
            f'{dateless[0]}: carries no acquisition date (a tag ACQUISITION_DATE=YYYY-MM-DD, '
            'ACQUISITION_DATES for a multi-date file, or a YYYYMMDD in its name) while other '
            f'files of the series {m.name!r} do: the series cannot be put in date order '
            f'(dateless: {dateless})',
            dateless[0],
        )
    return sorted(frames, key=lambda f: f.date)


def _choose(frames: list, num: int, select: str) -> list:
    """``num`` of the frames (``select``), or all of them padded with None."""
    picked = [frames[i] for i in select_dates(len(frames), num, select)]
    return picked + [None] * (num - len(picked))


def split_input_arg(arg: str) -> tuple[str | None, list[str]]:
    """One command-line input -> ``(NAME or None for a bare PATH, [path, ...])``."""
    name, sep, value = arg.partition('=')
    if not sep or osp.exists(arg) or is_virtual(arg):  # a URL's query may hold '='
        return None, [arg]
    return name, [v for v in value.split(',') if v]


def parse_input_args(spec: SceneSpec, args: Sequence[str]) -> dict[str, list[str]]:
    """Command-line inputs -> ``{name: [path, ...]}``: ``NAME=PATH`` (repeat NAME for more
    dates, or ``NAME=PATH1,PATH2``); a bare ``PATH`` is the model's only input."""
    files: dict[str, list[str]] = {}
    for arg in args:
        name, paths = split_input_arg(arg)
        if name is None:
            if len(spec.inputs) > 1:
                raise ValueError(
                    f'{arg}: the model takes the inputs {spec.names}; name each file as '
                    f'NAME=PATH (e.g. {spec.names[0]}=scene.tif)'
                )
            name = spec.names[0]
        elif name not in spec.names:
            raise ValueError(
                f'{arg}: the model takes no input {name!r}; its inputs are {spec.names}'
            )
        files.setdefault(name, []).extend(paths)
    return files


def parse_band_presets(spec: SceneSpec, args: Sequence[str] | None) -> dict[str, str]:
    """Command-line band presets -> ``{input name: preset}``: ``PRESET`` for the model's only
    input (or its reference), ``NAME=PRESET`` for a named input."""
    presets = {}
    for arg in args or ():
        name, sep, preset = arg.rpartition('=')
        name = name if sep else spec.reference.name
        if name not in spec.names:
            raise ValueError(
                f'--band-preset {arg}: the model takes no input {name!r}; its inputs '
                f'are {spec.names}'
            )
        if preset not in PRESETS:
            raise ValueError(
                f'--band-preset {arg}: unknown preset; the presets are {sorted(PRESETS)}'
            )
        presets[name] = preset
    return presets


def describe_file(m: ModalityInput, n: int, policy: str) -> str:
    """What the ``n``-th file (1-based) of input ``m`` is, for error messages."""
    if policy == 'exact' and m.num_dates == 2:
        return f'date {n} of the change pair, a GeoTIFF'
    return f'the {m.name!r} input, a GeoTIFF'


def _check_same_grid(ref_path: str, ref: tuple, path: str, hd: tuple) -> tuple[int, int]:
    """The exact-grid policy: ``path``'s grid is the reference's up to a whole-pixel offset;
    returns the offset ``(row, col)`` of the reference's pixel (0, 0) in ``path``'s pixels, or
    raises a ``RasterError`` naming both files and what differs."""
    names = f'{ref_path} and {path}'
    (crs1, t1), (crs2, t2) = ref[:2], hd[:2]
    how = 'a change pair is not resampled: '
    if crs1 != crs2:
        raise RasterError(
            f'{names} have different CRS ({crs_name(crs1)} vs {crs_name(crs2)}); {how}'
            'reproject one onto the other first (gdalwarp -t_srs)',
            path,
        )
    for what, v1, v2 in (
        ('pixel width', t1.a, t2.a),
        ('pixel height', t1.e, t2.e),
        ('rotation', t1.b, t2.b),
        ('rotation', t1.d, t2.d),
    ):
        if abs(v1 - v2) > _GRID_TOL * max(abs(v1), abs(v2), 1.0):
            raise RasterError(
                f'{names} differ in {what} ({v1} vs {v2}): {how}the dates must share one pixel '
                'grid (resample one onto the other first, e.g. gdalwarp -tr -tap)',
                path,
            )
    # the reference's origin in the other file's pixels must be whole
    col, row = (t1.c - t2.c) / t2.a, (t1.f - t2.f) / t2.e
    if abs(col - round(col)) > _OFFSET_TOL or abs(row - round(row)) > _OFFSET_TOL:
        raise RasterError(
            f'{names}: the grids are offset by ({-row:.3f}, {-col:.3f}) pixels (row, col), not '
            f'a whole number: {how}resample one onto the other first',
            path,
        )
    return int(round(row)), int(round(col))


class SceneInputs:
    """The files of a scene for a model, and the output grid; read tiles with ``read``.

    Use ``SceneInputs.open(spec, files)``.

    Attributes:
        spec: the model's inputs.
        frames: per input, its ``T`` frames (``None`` for padded dates; one for an image).
        height, width, crs, transform: the output grid.
        reference_path: the file whose grid the output takes.
        missing: the inputs given no file (not the reference), masked in every tile.
    """

    def __init__(
        self,
        spec: SceneSpec,
        frames: dict[str, list[Frame | None]],
        window: tuple[int, int, int, int],
        valid_dates: str = 'any',
        read_budget_mb: float = 512,
        offsets: Mapping[str, tuple[int, int]] | None = None,
    ) -> None:
        if valid_dates not in VALID_DATES:
            raise ValueError(f'valid_dates must be one of {VALID_DATES}, got {valid_dates!r}')
        self.spec, self.frames, self.valid_dates = spec, frames, valid_dates
        #: per input, ``(path, bands, how they were chosen)`` of each file (``open`` sets it)
        self.band_mapping: dict[str, list[tuple]] = {}
        #: inputs given no file: masked in every tile
        self.missing = [n for n, fs in frames.items() if all(f is None for f in fs)]
        self.reference_path = frames[spec.reference.name][0].path
        # files read as whole-pixel windows: the reference's pixel (0, 0) is at `offsets[path]`
        self.offsets = {self.reference_path: (0, 0), **(offsets or {})}
        self.handles = RasterHandleCache(max_open=256)
        ref = self.handles.get(self.reference_path)
        self.row0, self.col0, self.height, self.width = window
        self.crs = ref.crs
        self.crs_string = ref.crs.to_wkt() if ref.crs is not None else None
        self.transform = ref.window_transform(
            ((self.row0, self.row0 + self.height), (self.col0, self.col0 + self.width))
        )
        self.reader = GroundWindowReader(
            self.handles,
            read_budget_mb=read_budget_mb,
            valid='any',
            crs_owner="the scene's",
        )

    # --------------------------------------------------------------------------- opening
    @classmethod
    def open(
        cls,
        spec: SceneSpec,
        files: Mapping[str, str | Sequence[str]],
        valid_dates: str | None = None,
        read_budget_mb: float = 512,
        policy: str | None = None,
        band_presets: Mapping[str, str] | None = None,
        band_names: Mapping[str, Sequence[Any]] | None = None,
    ) -> 'SceneInputs':
        """Check every file (missing, empty, not a raster, truncated, bands, CRS, orientation,
        overlap, and the grids under the exact policy) and build the output grid.

        Args:
            spec: the model's inputs.
            files: per input name, one path or one per date (a multi-date file counts its
                dates).
            valid_dates: the nodata rule of a series reference: the output is defined where
                some date (``'any'``) or every date (``'all'``, e.g. both dates of a change
                pair) holds data; default ``spec.valid_dates``.
            read_budget_mb: see ``GroundWindowReader``.
            policy: how the files are placed (``POLICIES``), default ``spec.policy``:
                ``'ground'`` by ground windows; ``'exact'`` (a change pair) on one pixel grid
                up to whole-pixel offsets, never resampled: a file of another CRS, pixel size,
                rotation or a fractional offset is refused naming it and the reference.
            band_presets: per input name, the band preset of its files (``PRESETS``).
            band_names: per input name, its files' band names in file order (names or STAC
                ``eo:bands`` dicts), as a STAC item gives them.

        Each file's bands are chosen by ``resolve_bands`` (bands by name; the mapping used is
        ``scene.band_mapping``), a series' files put in date order (a dateless file among dated
        ones is refused); ``scene.describe()`` says both in words.
        """
        policy = spec.policy if policy is None else policy
        if policy not in POLICIES:
            raise ValueError(f'policy must be one of {POLICIES}, got {policy!r}')
        scaled = [m.name for m in spec.inputs if m.scale != 1]
        if policy == 'exact' and scaled:
            raise ValueError(f'the exact-grid policy resamples no input; {scaled} have a scale')
        unknown = sorted(set(files) - set(spec.names))
        if unknown:
            raise ValueError(f'the model takes no input {unknown}; its inputs are {spec.names}')
        frames: dict[str, list[Frame | None]] = {}
        headers: dict[str, tuple] = {}
        mapping: dict[str, list[tuple]] = {}
        for m in spec.inputs:
            m.norm_stats()  # a statistics file is checked before any model is loaded
            paths = files.get(m.name)
            paths = [paths] if isinstance(paths, str) else list(paths or [])
            if not paths and m is not spec.reference and policy == 'ground':
                # left out: masked in every tile, as a sample lacking it in training
                if not m.channels:
                    raise ValueError(
                        f'no file for the input {m.name!r} and no channels stated to mask it '
                        f'with; give it as {m.name}=PATH'
                    )
                frames[m.name] = [None] * (m.num_dates or 1)
                continue
            if not paths:
                raise ValueError(
                    f'no file for the input {m.name!r}; the model takes {spec.names}'
                    + (f' (give them as {m.name}=PATH)' if len(spec.inputs) > 1 else '')
                )
            frames[m.name] = cls._frames(
                m,
                paths,
                headers,
                policy,
                (band_presets or {}).get(m.name),
                (band_names or {}).get(m.name),
                mapping,
            )
        ref_path = frames[spec.reference.name][0].path
        ref_crs, ref_t, ref_h, ref_w = headers[ref_path][:4]
        offsets = {}
        if policy == 'exact':
            for path, hd in headers.items():
                offsets[path] = _check_same_grid(ref_path, headers[ref_path], path, hd)
        plain = [p for p, hd in headers.items() if _pixel_grid(hd[0], hd[1])]
        if plain and len(headers) > 1:
            _check_pixel_grids(plain, headers, policy)
        for path, (crs, *_) in headers.items():
            if crs != ref_crs:
                raise RasterError(
                    f"{path}: CRS {crs_name(crs)} differs from the scene's CRS "
                    f'{crs_name(ref_crs)} ({ref_path}); all inputs must share one CRS '
                    '(reproject with gdalwarp -t_srs)',
                    path,
                )
        # whole reference pixels inside every file: the raster package's one overlap rule
        extents = [grid_box(t, (h, w)) for _, t, h, w, _ in headers.values()]
        window = overlap_window(ref_t, (ref_h, ref_w), extents)
        if window is None:
            listing = '; '.join(
                f'{p}: {tuple(round(v, 3) for v in hd[4])}' for p, hd in headers.items()
            )
            raise RasterError(
                f'the inputs do not overlap by a whole pixel of {ref_path} (bounds: {listing})',
                ref_path,
            )
        valid_dates = spec.valid_dates if valid_dates is None else valid_dates
        scene = cls(spec, frames, window, valid_dates, read_budget_mb, offsets)
        scene.band_mapping = mapping
        return scene

    @staticmethod
    def _frames(
        m: ModalityInput,
        paths: list[str],
        headers: dict,
        policy: str = 'ground',
        preset: str | None = None,
        names: Sequence[Any] | None = None,
        mapping: dict | None = None,
    ) -> list[Frame | None]:
        frames: list[Frame] = []
        for n, path in enumerate(paths, 1):
            expected = describe_file(m, n, policy)
            with open_raster(path, expected=expected, check_complete=True) as src:
                if not _pixel_grid(src.crs, src.transform):
                    check_north_up(src, path)
                headers[path] = (src.crs, src.transform, src.height, src.width, tuple(src.bounds))
                count = src.count
                descriptions = list(src.descriptions)
                dates = _dates_of(path, src) if m.is_series else []
            per_date, num = count, 1
            # a date-major stack of dates of `unit` bands: the preset's or the model's count
            unit = m.channels
            if preset is not None and m.band_names:
                unit = next((c for c in sorted(PRESETS[preset]) if count % c == 0), unit)
            if m.is_series and len(dates) > 1:
                if count % len(dates):
                    raise RasterError(
                        f'{path}: {count} bands are not a whole number of its {len(dates)} '
                        'dates (tag ACQUISITION_DATES)',
                        path,
                    )
                per_date, num = count // len(dates), len(dates)
            elif (
                m.is_series
                and len(paths) == 1
                and (m.bands is None or m.band_names)
                and unit
                and count >= 2 * unit
                and count % unit == 0
            ):
                per_date, num = unit, count // unit  # a date-major stack
            bands, how = resolve_bands(
                per_date,
                m.band_names,
                m.name,
                m.bands if m.band_names else m.bands_or_default(per_date),
                preset=preset,
                names=names,
                descriptions=descriptions[:per_date],
                where=path,
            )
            check_bands(
                path,
                per_date,
                bands,
                f'band indexes {bands} for the input {m.name!r}',
                'bands per date',
            )
            if mapping is not None:
                mapping.setdefault(m.name, []).append((path, bands, how))
            for t in range(num):
                date = dates[t] if t < len(dates) else (dates[0] if len(dates) == 1 else None)
                doy = date_code(date) if date else 0
                frames.append(Frame(path, [t * per_date + b for b in bands], doy, date))
        widths = {len(f.bands) for f in frames}
        if len(widths) > 1:
            first = frames[0]
            other = next(f for f in frames if len(f.bands) != len(first.bands))
            raise RasterError(
                f'{first.path} has {len(first.bands)} bands and {other.path} '
                f'{len(other.bands)}: the dates of the input {m.name!r} must have the same bands '
                '(or name the bands to read)',
                other.path,
            )
        if not m.is_series:
            if len(frames) != 1:
                raise ValueError(
                    f'the input {m.name!r} is one image, got {len(frames)} dates ({paths})'
                )
            return list(frames)
        return _choose(_in_date_order(m, frames), m.num_dates, m.select)

    def describe(self) -> list[str]:
        """What is read, in words, one line each: per input the bands of its files (by which
        rule, and the model's band each feeds) and a series' dates in the order used."""
        lines = []
        for m in self.spec.inputs:
            wanted = [b.label() for b in m.bands_by_name()]
            rows = self.band_mapping.get(m.name, [])
            shown = {}
            for path, bands, how in rows:
                shown.setdefault((tuple(bands), how), []).append(path)
            for (bands, how), paths in shown.items():
                what = paths[0] if len(paths) == 1 else f'{len(paths)} files ({paths[0]}, ...)'
                feeds = (
                    ', '.join(f'{b}->{w}' for b, w in zip(bands, wanted))
                    if wanted
                    else ', '.join(map(str, bands))
                )
                lines.append(f'{m.name}: bands of {what}: {feeds} (by {how})')
            if m.is_series and m.name not in self.missing:
                frames = self.frames[m.name]
                if not any(f and f.date for f in frames):
                    lines.append(f'{m.name}: the files carry no dates: in the order given')
                    continue
                dates = [f.date.isoformat() if f else 'padded (masked)' for f in frames]
                lines.append(
                    f'{m.name}: dates used, in date order ({m.num_dates}, select '
                    f'{m.select!r}): {", ".join(dates)}'
                )
        return lines

    @property
    def pixel_space(self) -> bool:
        """The scene has no georeference: its products are in pixel space (``pixel_space``)."""
        return self.crs is None

    @property
    def nodata_rule(self) -> str:
        """Where the output is undefined, in words (the class map's ``NODATA_RULE`` tag)."""
        ref = self.spec.reference
        if not ref.is_series:
            return f'no data (in every band) in the reference input {ref.name!r}'
        which = 'some date' if self.valid_dates == 'all' else 'every date'
        return f'no data (in every band) in {which} of the reference input {ref.name!r}'

    def close(self) -> None:
        self.handles.close()

    def __enter__(self) -> 'SceneInputs':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---------------------------------------------------------------------------- reading
    def grid(self, tile: int, overlap: int) -> TileGrid:
        """The tile grid of the output grid that ``run_tiles`` walks (tiles of ``tile`` px,
        neighbours overlapping by ``overlap``)."""
        return TileGrid(self.height, self.width, tile, overlap)

    def tile_box(self, tile: Tile) -> tuple[float, float, float, float]:
        """The ground box ``(minx, miny, maxx, maxy)`` of a tile of the output grid."""
        t = self.transform
        x0, y0 = t.c + tile.col * t.a, t.f + tile.row * t.e
        x1, y1 = x0 + tile.width * t.a, y0 + tile.height * t.e
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    def input_size(self, m: ModalityInput, tile: Tile) -> tuple[int, int]:
        return max(1, round(tile.height * m.scale)), max(1, round(tile.width * m.scale))

    def _read_frame(
        self, m: ModalityInput, t: int, frame: Frame, tile: Tile, box: tuple
    ) -> tuple[np.ndarray, np.ndarray]:
        if m.scale == 1 and frame.path in self.offsets:
            # the reference's pixels and, under the exact policy, every file's: as stored
            dr, dc = self.offsets[frame.path]
            src = self.handles.get(frame.path)
            r0, c0 = self.row0 + tile.row + dr, self.col0 + tile.col + dc
            rows, cols = (r0, r0 + tile.height), (c0, c0 + tile.width)
            return read_window(src, frame.bands, rows, cols, frame.path, valid='any')
        size = self.input_size(m, tile)
        return self.reader.read_image(
            frame.path, frame.bands, box, size, crs=self.crs_string, keep_dtype=True
        )

    def read(self, tiles: Sequence[Tile]) -> TileBatch:
        """The inputs of ``tiles`` (positions in the output grid)."""
        inputs, valid, date_mask, doy = {}, {}, {}, {}
        boxes = [self.tile_box(tile) for tile in tiles]
        for m in self.spec.inputs:
            frames = self.frames[m.name]
            per_tile, per_valid = [], []
            for tile, box in zip(tiles, boxes):
                h, w = self.input_size(m, tile)
                values, oks = [], []
                for t, frame in enumerate(frames):
                    if frame is None:
                        values.append(None)
                        oks.append(np.zeros((h, w), dtype=bool))
                        continue
                    v, ok = self._read_frame(m, t, frame, tile, box)
                    values.append(v)
                    oks.append(ok)
                real = next((v for v in values if v is not None), None)
                if real is None:  # an input left out
                    real = np.zeros((m.channels, h, w), np.float32)
                values = [np.zeros_like(real) if v is None else v for v in values]
                per_tile.append(np.stack(values))
                per_valid.append(np.stack(oks))
            data, ok = np.stack(per_tile), np.stack(per_valid)  # N x T x C x h x w, N x T x h x w
            if m.is_series:
                inputs[m.name], valid[m.name] = data, ok
                date_mask[m.name] = ok.any(axis=(2, 3))
                doy[m.name] = np.array([f.doy if f else 0 for f in frames], dtype=np.int64)
            else:
                inputs[m.name], valid[m.name] = data[:, 0], ok[:, 0]
        ref = self.spec.reference
        ref_valid = valid[ref.name]
        if ref.is_series:
            real = np.array([f is not None for f in self.frames[ref.name]])
            dates = ref_valid[:, real]
            ref_valid = dates.all(axis=1) if self.valid_dates == 'all' else dates.any(axis=1)
        return TileBatch(list(tiles), inputs, valid, date_mask, doy, ref_valid)
