"""The sample index: which GeoTIFFs make one pretraining sample, and how it is checked.

The index is a JSON file in mmengine's annotation layout (``{"metainfo": ..., "data_list": [...]}``)
so that ``BaseDataset`` loads it; docs/data_format.md documents every field. This module parses
and checks entries (cheap, no file access) and builds an index from a folder of GeoTIFFs
(opens every file's header to read bounds, CRS, band count and dates).
"""

import datetime
import json
import os
import os.path as osp
import re
from collections.abc import Sequence
from typing import Any

from mmskysense.structures.dates import date_code
from mmskysense.structures.modalities import is_series, modality, modality_names

from ..raster import (
    GeoSampleError,
    box_overlap,
    crs_name,
    is_virtual,
    join_path,
    open_raster,
    raster_exists,
)
from .region import lonlat_to_region_id

INDEX_FORMAT = 'mmskysense-geo-index'
INDEX_VERSION = 1
LABEL = 'osm'  # the OSM label raster: one band of class ids, not a modality
DATE_TAG = 'ACQUISITION_DATE'
DATES_TAG = 'ACQUISITION_DATES'
REGION_TAG = 'REGION_ID'
_TIF_EXT = ('.tif', '.tiff')
_NAME_DATE = re.compile(r'(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)')


def parse_date(value: Any, where: str) -> datetime.date:
    """``YYYY-MM-DD`` (or ``YYYYMMDD``) -> date; ``where`` names the field for the error."""
    if isinstance(value, str):
        match = re.fullmatch(r'(\d{4})-?(\d{2})-?(\d{2})', value.strip())
        if match:
            try:
                return datetime.date(*(int(g) for g in match.groups()))
            except ValueError:
                pass
    raise GeoSampleError(f'{where}: expected a date as YYYY-MM-DD, got {value!r}')


def day_of_year(day: datetime.date) -> int:
    """1..366, the code the fusion module receives in pretraining (``date_code``)."""
    return date_code(day)


def _resolve(path: Any, root: str, where: str) -> str:
    if not isinstance(path, str) or not path:
        raise GeoSampleError(f'{where}: expected a file path string, got {path!r}')
    return join_path(root, path)  # a URL stays as it is


def _parse_bands(value: Any, where: str) -> list[int]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in value)
    ):
        raise GeoSampleError(
            f'{where}: expected a non-empty list of 1-based band numbers, got {value!r}'
        )
    return list(value)


def _parse_bounds(value: Any, where: str) -> tuple[float, float, float, float]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 4
        or not all(isinstance(v, (int, float)) for v in value)
    ):
        raise GeoSampleError(f'{where}: expected [minx, miny, maxx, maxy], got {value!r}')
    minx, miny, maxx, maxy = (float(v) for v in value)
    if not (maxx > minx and maxy > miny):
        raise GeoSampleError(f'{where}: empty extent {value!r} (need maxx > minx and maxy > miny)')
    return minx, miny, maxx, maxy


def parse_sample_entry(entry: Any, root: str, where: str) -> dict[str, Any]:
    """Check one ``data_list`` entry and return it with absolute paths and parsed dates.

    Args:
        entry: the raw JSON object.
        root: folder that relative paths are relative to.
        where: e.g. ``"index.json data_list[3]"``, used in error messages.
    """
    if not isinstance(entry, dict):
        raise GeoSampleError(f'{where}: expected an object, got {type(entry).__name__}')
    for key in ('sample_id', 'crs', 'bounds'):
        if key not in entry:
            raise GeoSampleError(f'{where}: missing field {key!r}')
    sample_id = str(entry['sample_id'])
    if not isinstance(entry['crs'], str) or not entry['crs']:
        raise GeoSampleError(
            f'{where}.crs: expected a CRS string (EPSG:xxxx or WKT), got {entry["crs"]!r}'
        )
    region_id = entry.get('region_id', -1)
    if isinstance(region_id, bool) or not isinstance(region_id, int):
        raise GeoSampleError(f'{where}.region_id: expected an int, got {region_id!r}')
    out: dict[str, Any] = dict(
        sample_id=sample_id,
        crs=entry['crs'],
        bounds=_parse_bounds(entry['bounds'], f'{where}.bounds'),
        region_id=region_id,
    )
    # every modality of the table: a static one is a file (or null), a series a list of dated
    # frames (or []); a sample that lacks a modality has null / [] or no field at all
    for name in modality_names():
        value = entry.get(name)
        if is_series(name):
            out[name] = _parse_frames(value, root, f'{where}.{name}')
        elif value is None:
            out[name] = None
        elif not isinstance(value, dict):
            raise GeoSampleError(
                f'{where}.{name}: expected {{"path": ..., "bands": [...]}} or null, got {value!r}'
            )
        else:
            default_bands = list(range(1, modality(name).channels + 1))
            out[name] = dict(
                path=_resolve(value.get('path'), root, f'{where}.{name}.path'),
                bands=_parse_bands(value.get('bands', default_bands), f'{where}.{name}.bands'),
            )
    if not present_modalities(out):
        raise GeoSampleError(
            f'{where}: names no file of any modality {list(modality_names())}; a sample needs '
            f'at least one'
        )

    osm = entry.get('osm')
    if osm is not None:
        if not isinstance(osm, dict):
            raise GeoSampleError(f'{where}.osm: expected {{"path": ...}} or null, got {osm!r}')
        out['osm'] = dict(
            path=_resolve(osm.get('path'), root, f'{where}.osm.path'),
            bands=_parse_bands(osm.get('bands', [1]), f'{where}.osm.bands'),
        )
    else:
        out['osm'] = None
    return out


def _parse_frames(frames: Any, root: str, where: str) -> list[dict[str, Any]]:
    """A series' frames, sorted by date (temporal sampling keeps them in time order)."""
    if frames is None:
        return []
    if not isinstance(frames, list):
        raise GeoSampleError(
            f'{where}: expected a list of frames {{"path", "bands", "date"}}, got {frames!r}'
        )
    parsed = []
    for t, frame in enumerate(frames):
        fwhere = f'{where}[{t}]'
        if not isinstance(frame, dict):
            raise GeoSampleError(f'{fwhere}: expected an object, got {frame!r}')
        day = parse_date(frame.get('date'), f'{fwhere}.date')
        parsed.append(
            dict(
                path=_resolve(frame.get('path'), root, f'{fwhere}.path'),
                bands=_parse_bands(frame.get('bands'), f'{fwhere}.bands'),
                date=day.isoformat(),
                doy=day_of_year(day),
            )
        )
    return sorted(parsed, key=lambda f: f['date'])


def present_modalities(entry: dict[str, Any]) -> tuple[str, ...]:
    """The modalities of the table that a parsed entry has files for, in the table's order."""
    return tuple(m for m in modality_names() if entry.get(m))


def load_geo_index(path: str, data_root: str | None = None) -> list[dict[str, Any]]:
    """Read and check an index file; relative paths are relative to ``data_root`` or its folder."""
    if not osp.isfile(path):
        raise GeoSampleError(f'index file {path!r} does not exist', path=path)
    try:
        with open(path, encoding='utf-8') as f:
            content = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GeoSampleError(f'index file {path!r} is not valid JSON: {err}', path=path) from err
    if not isinstance(content, dict) or not isinstance(content.get('data_list'), list):
        raise GeoSampleError(
            f'index file {path!r}: expected an object with a "data_list" list '
            f'(format {INDEX_FORMAT})',
            path=path,
        )
    meta = content.get('metainfo', {})
    if meta.get('format', INDEX_FORMAT) != INDEX_FORMAT:
        raise GeoSampleError(
            f'index file {path!r}: metainfo.format is {meta.get("format")!r}, '
            f'expected {INDEX_FORMAT!r}',
            path=path,
        )
    root = data_root if data_root is not None else osp.dirname(osp.abspath(path))
    return [
        parse_sample_entry(entry, root, f'{osp.basename(path)} data_list[{i}]')
        for i, entry in enumerate(content['data_list'])
    ]


# --------------------------------------------------------------------------- building an index


def _read_header(path: str) -> dict[str, Any]:
    from rasterio.errors import RasterioError

    try:
        # a truncated file is refused here, before training meets it
        with open_raster(path, check_complete=True) as src:
            return dict(crs=src.crs, bounds=tuple(src.bounds), count=src.count, tags=src.tags())
    except RasterioError as err:
        raise GeoSampleError(f'{path}: cannot read its header ({err})', path=path) from err


def file_dates(path: str, header: dict[str, Any]) -> list[datetime.date]:
    """The acquisition dates of a file (``header['tags']``: its GeoTIFF tags): the
    ``ACQUISITION_DATES`` of a multi-date file, its ``ACQUISITION_DATE``, or a date in its name."""
    tags = header['tags']
    if DATES_TAG in tags:
        return [parse_date(d, f'{path} tag {DATES_TAG}') for d in tags[DATES_TAG].split(',')]
    if DATE_TAG in tags:
        return [parse_date(tags[DATE_TAG], f'{path} tag {DATE_TAG}')]
    match = _NAME_DATE.search(osp.basename(path))
    if match:
        return [parse_date(''.join(match.groups()), f'{path} file name')]
    raise GeoSampleError(
        f'{path}: no acquisition date; expected a tag {DATE_TAG}=YYYY-MM-DD, a tag '
        f'{DATES_TAG}=date1,date2,... (multi-date file) or a YYYYMMDD in the file name',
        path=path,
    )


def _find(folder: str, name: str) -> str | None:
    for ext in _TIF_EXT:
        candidate = join_path(folder, name + ext)
        if raster_exists(candidate):  # a URL: one request
            return candidate
    return None


def _series_files(folder: str, name: str) -> list[str]:
    single = _find(folder, name)
    sub = osp.join(folder, name)
    files = [single] if single else []
    # a remote folder cannot be listed: its series are multi-date files (name.tif)
    if not is_virtual(folder) and osp.isdir(sub):
        files += sorted(osp.join(sub, f) for f in os.listdir(sub) if f.lower().endswith(_TIF_EXT))
    return files


def _layout(name: str) -> str:
    if is_series(name):
        return f'{name}.tif (multi-date) or a folder {name}/ with one GeoTIFF per date'
    return f'{name}.tif'


def bands_per_date_of(overrides: dict[str, int] | None = None) -> dict[str, int]:
    """Bands per date of each modality (the modality table's channels) and of the label."""
    table = {m: modality(m).channels for m in modality_names()}
    return {**table, LABEL: 1, **(overrides or {})}


def build_sample_entry(
    folder: str,
    index_dir: str,
    bands_per_date: dict[str, int] | None = None,
    region_grid: tuple[int, int] = (64, 64),
    required: Sequence[str] = (),
) -> dict[str, Any]:
    """Index entry for one sample folder (layout in docs/data_format.md).

    Every modality of the table that the folder holds is indexed; one it lacks is recorded as
    absent (null / []), unless it is in ``required``, which refuses the folder. A folder with no
    modality at all is refused.
    """
    import rasterio.warp

    bands_per_date = bands_per_date_of(bands_per_date)
    sample_id = (
        folder.rstrip('/').rsplit('/', 1)[-1]
        if is_virtual(folder)
        else osp.basename(osp.normpath(folder))
    )
    headers: dict[str, dict[str, Any]] = {}

    def rel(path: str) -> str:
        return path if is_virtual(path) else osp.relpath(path, index_dir)

    def fail(message: str, path: str) -> GeoSampleError:
        return GeoSampleError(message, path=path, sample_id=sample_id)

    entry: dict[str, Any] = dict(sample_id=sample_id)
    for name in modality_names():
        per_date = bands_per_date[name]
        files = _series_files(folder, name) if is_series(name) else [_find(folder, name)]
        files = [f for f in files if f]
        if not files:
            if name in required:
                raise fail(f'{folder}: no {name} GeoTIFFs; expected {_layout(name)}', folder)
            entry[name] = [] if is_series(name) else None
            continue
        if not is_series(name):
            header = headers[files[0]] = _read_header(files[0])
            if header['count'] != per_date:
                raise fail(
                    f'{files[0]}: has {header["count"]} bands, expected {per_date} ({name})',
                    files[0],
                )
            entry[name] = dict(path=rel(files[0]), bands=list(range(1, per_date + 1)))
            continue
        frames = []
        for path in files:
            header = headers.setdefault(path, _read_header(path))
            dates = file_dates(path, header)
            if header['count'] != per_date * len(dates):
                raise fail(
                    f'{path}: has {header["count"]} bands, expected {per_date} per date x '
                    f'{len(dates)} date(s) = {per_date * len(dates)}',
                    path,
                )
            for t, day in enumerate(dates):
                frames.append(
                    dict(
                        path=rel(path),
                        date=day.isoformat(),
                        bands=list(range(t * per_date + 1, (t + 1) * per_date + 1)),
                    )
                )
        entry[name] = sorted(frames, key=lambda f: f['date'])
    if not headers:
        raise fail(
            f'{folder}: holds no GeoTIFF of any modality; expected at least one of '
            + ', '.join(_layout(m) for m in modality_names()),
            folder,
        )
    # the reference file: the first modality's (HR when present); its CRS is the sample's
    ref_path = next(iter(headers))
    ref = headers[ref_path]
    if ref['crs'] is None:
        raise fail(f'{ref_path}: has no CRS; expected a georeferenced GeoTIFF', ref_path)
    entry['crs'] = crs_name(ref['crs'])
    osm_path = _find(folder, LABEL)
    entry[LABEL] = None
    if osm_path is not None:
        headers[osm_path] = _read_header(osm_path)
        entry[LABEL] = dict(path=rel(osm_path), bands=[1])

    # CRS policy: refuse (docs/data_format.md): reprojecting on the fly would resample the HR
    # image in every iteration; reproject once with gdalwarp instead.
    for path, header in headers.items():
        if header['crs'] != ref['crs']:
            raise fail(
                f'{path}: CRS {crs_name(header["crs"])} differs from the sample CRS '
                f'{crs_name(ref["crs"])} ({ref_path}); all modalities of a sample must share '
                f'one CRS (reproject with gdalwarp -t_srs)',
                path,
            )
    bounds = ref['bounds']
    for path, header in headers.items():
        b = header['bounds']
        inter = box_overlap([bounds, b])
        if inter[2] <= inter[0] or inter[3] <= inter[1]:
            raise fail(
                f'{path}: extent {tuple(round(v, 3) for v in b)} does not overlap the extent '
                f"{tuple(round(v, 3) for v in bounds)} shared by the sample's other files",
                path,
            )
        bounds = inter
    entry['bounds'] = [float(v) for v in bounds]
    if REGION_TAG in ref['tags']:
        try:
            entry['region_id'] = int(ref['tags'][REGION_TAG])
        except ValueError as err:
            raise fail(
                f'{ref_path}: tag {REGION_TAG}={ref["tags"][REGION_TAG]!r} is not an integer',
                ref_path,
            ) from err
    else:
        cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
        lons, lats = rasterio.warp.transform(ref['crs'], 'EPSG:4326', [cx], [cy])
        entry['region_id'] = lonlat_to_region_id(lons[0], lats[0], region_grid)
    return entry


def build_geo_index(
    root: str,
    out_path: str,
    bands_per_date: dict[str, int] | None = None,
    region_grid: tuple[int, int] = (64, 64),
    on_bad_sample: str = 'raise',
    sample_dirs: Sequence[str] | None = None,
    required: Sequence[str] = (),
) -> dict[str, Any]:
    """Build an index from ``root/<sample_id>/`` folders and write it to ``out_path``.

    Args:
        root: folder holding one sub-folder per sample, or a URL prefix (then ``sample_dirs``
            names the sample folders: a URL cannot be listed; the files keep their URLs).
        out_path: JSON file to write; paths inside are relative to its folder.
        bands_per_date: overrides of the modality table's channels (``bands_per_date_of``).
        region_grid: ``(n_lat, n_lon)`` of the region grid when no ``REGION_ID`` tag is set.
        on_bad_sample: ``'raise'`` stops at the first bad folder; ``'skip'`` leaves it out and
            lists it under ``metainfo.skipped``.
        sample_dirs: only these sub-folders of ``root`` (default: all).
        required: modalities every sample must have (a folder without one is bad); the
            others are indexed where present, absent elsewhere (docs/data_format.md).

    Returns:
        the index content that was written.
    """
    if on_bad_sample not in ('raise', 'skip'):
        raise ValueError(f"on_bad_sample must be 'raise' or 'skip', got {on_bad_sample!r}")
    if is_virtual(root):
        if not sample_dirs:
            raise GeoSampleError(
                f'{root}: a remote folder cannot be listed; name its sample folders '
                '(sample_dirs, --samples)',
                path=root,
            )
    elif not osp.isdir(root):
        raise GeoSampleError(f'{root}: not a folder of sample folders', path=root)
    index_dir = osp.dirname(osp.abspath(out_path))
    names = (
        sorted(sample_dirs)
        if sample_dirs is not None
        else sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d)))
    )
    data_list, skipped = [], []
    for name in names:
        try:
            data_list.append(
                build_sample_entry(
                    join_path(root, name), index_dir, bands_per_date, region_grid, required
                )
            )
        except GeoSampleError as err:
            if on_bad_sample == 'raise':
                raise
            skipped.append(dict(sample=name, error=str(err)))
    if not data_list:
        raise GeoSampleError(f'{root}: no usable sample folder (skipped {len(skipped)})', path=root)
    content = dict(
        metainfo=dict(
            format=INDEX_FORMAT,
            version=INDEX_VERSION,
            bands_per_date=bands_per_date_of(bands_per_date),
            skipped=skipped,
        ),
        data_list=data_list,
    )
    os.makedirs(index_dir, exist_ok=True)
    with open(out_path, 'w', encoding='utf-8') as f:
        # one sample per line: greppable and diffable for millions of samples
        f.write('{"metainfo": ' + json.dumps(content['metainfo']) + ',\n "data_list": [\n')
        f.write(',\n'.join('  ' + json.dumps(entry) for entry in data_list))
        f.write('\n]}\n')
    return content
