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

from ..raster_io import RasterError, crs_name, open_raster
from .errors import GeoSampleError
from .region import lonlat_to_region_id

INDEX_FORMAT = 'mmskysense-geo-index'
INDEX_VERSION = 1
TIME_SERIES = ('s2', 's1')
# bands per date that the backbone's tokenizers expect (docs/interfaces.md)
DEFAULT_BANDS_PER_DATE = dict(hr=3, s2=10, s1=2, osm=1)
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
    """1..366, the encoding the fusion module receives."""
    return day.timetuple().tm_yday


def _resolve(path: Any, root: str, where: str) -> str:
    if not isinstance(path, str) or not path:
        raise GeoSampleError(f'{where}: expected a file path string, got {path!r}')
    return path if osp.isabs(path) else osp.normpath(osp.join(root, path))


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
    for key in ('sample_id', 'crs', 'bounds', 'hr', 's2', 's1'):
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

    hr = entry['hr']
    if not isinstance(hr, dict):
        raise GeoSampleError(f'{where}.hr: expected {{"path": ..., "bands": [...]}}, got {hr!r}')
    out['hr'] = dict(
        path=_resolve(hr.get('path'), root, f'{where}.hr.path'),
        bands=_parse_bands(hr.get('bands', [1, 2, 3]), f'{where}.hr.bands'),
    )

    for name in TIME_SERIES:
        frames = entry[name]
        if not isinstance(frames, list) or not frames:
            raise GeoSampleError(
                f'{where}.{name}: expected a non-empty list of frames '
                f'{{"path", "bands", "date"}}, got {frames!r}'
            )
        parsed = []
        for t, frame in enumerate(frames):
            fwhere = f'{where}.{name}[{t}]'
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
        # temporal sampling keeps the chosen frames in time order
        parsed.sort(key=lambda f: f['date'])
        out[name] = parsed

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
    except RasterError as err:
        raise GeoSampleError(str(err), path=path) from err
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
        candidate = osp.join(folder, name + ext)
        if osp.isfile(candidate):
            return candidate
    return None


def _series_files(folder: str, name: str) -> list[str]:
    single = _find(folder, name)
    sub = osp.join(folder, name)
    files = [single] if single else []
    if osp.isdir(sub):
        files += sorted(osp.join(sub, f) for f in os.listdir(sub) if f.lower().endswith(_TIF_EXT))
    if not files:
        raise GeoSampleError(
            f'{folder}: no {name} GeoTIFFs; expected {name}.tif (multi-date) or a folder {name}/ '
            f'with one GeoTIFF per date',
            path=folder,
        )
    return files


def build_sample_entry(
    folder: str,
    index_dir: str,
    bands_per_date: dict[str, int] | None = None,
    region_grid: tuple[int, int] = (64, 64),
) -> dict[str, Any]:
    """Index entry for one sample folder (layout in docs/data_format.md)."""
    import rasterio.warp

    bands_per_date = {**DEFAULT_BANDS_PER_DATE, **(bands_per_date or {})}
    sample_id = osp.basename(osp.normpath(folder))
    hr_path = _find(folder, 'hr')
    if hr_path is None:
        raise GeoSampleError(
            f'{folder}: missing hr.tif (the high-resolution RGB GeoTIFF)',
            path=folder,
            sample_id=sample_id,
        )
    headers: dict[str, dict[str, Any]] = {hr_path: _read_header(hr_path)}
    hr = headers[hr_path]
    if hr['crs'] is None:
        raise GeoSampleError(
            f'{hr_path}: has no CRS; expected a georeferenced GeoTIFF',
            path=hr_path,
            sample_id=sample_id,
        )
    if hr['count'] != bands_per_date['hr']:
        raise GeoSampleError(
            f'{hr_path}: has {hr["count"]} bands, expected {bands_per_date["hr"]} (RGB)',
            path=hr_path,
            sample_id=sample_id,
        )

    def rel(path: str) -> str:
        return osp.relpath(path, index_dir)

    entry: dict[str, Any] = dict(sample_id=sample_id, crs=crs_name(hr['crs']))
    entry['hr'] = dict(path=rel(hr_path), bands=list(range(1, hr['count'] + 1)))
    for name in TIME_SERIES:
        frames = []
        per_date = bands_per_date[name]
        for path in _series_files(folder, name):
            header = headers.setdefault(path, _read_header(path))
            dates = file_dates(path, header)
            if header['count'] != per_date * len(dates):
                raise GeoSampleError(
                    f'{path}: has {header["count"]} bands, expected {per_date} per date x '
                    f'{len(dates)} date(s) = {per_date * len(dates)}',
                    path=path,
                    sample_id=sample_id,
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
    osm_path = _find(folder, 'osm')
    entry['osm'] = None
    if osm_path is not None:
        headers[osm_path] = _read_header(osm_path)
        entry['osm'] = dict(path=rel(osm_path), bands=[1])

    # CRS policy: refuse (docs/data_format.md): reprojecting on the fly would resample the HR
    # image in every iteration; reproject once with gdalwarp instead.
    for path, header in headers.items():
        if header['crs'] != hr['crs']:
            raise GeoSampleError(
                f"{path}: CRS {crs_name(header['crs'])} differs from the HR image's "
                f'{crs_name(hr["crs"])} ({hr_path}); all modalities of a sample must share one '
                f'CRS (reproject with gdalwarp -t_srs)',
                path=path,
                sample_id=sample_id,
            )
    bounds = hr['bounds']
    for path, header in headers.items():
        b = header['bounds']
        inter = (
            max(bounds[0], b[0]),
            max(bounds[1], b[1]),
            min(bounds[2], b[2]),
            min(bounds[3], b[3]),
        )
        if inter[2] <= inter[0] or inter[3] <= inter[1]:
            raise GeoSampleError(
                f'{path}: extent {tuple(round(v, 3) for v in b)} does not overlap the extent '
                f"{tuple(round(v, 3) for v in bounds)} shared by the sample's other files",
                path=path,
                sample_id=sample_id,
            )
        bounds = inter
    entry['bounds'] = [float(v) for v in bounds]
    if REGION_TAG in hr['tags']:
        try:
            entry['region_id'] = int(hr['tags'][REGION_TAG])
        except ValueError as err:
            raise GeoSampleError(
                f'{hr_path}: tag {REGION_TAG}={hr["tags"][REGION_TAG]!r} is not an integer',
                path=hr_path,
                sample_id=sample_id,
            ) from err
    else:
        cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
        lons, lats = rasterio.warp.transform(hr['crs'], 'EPSG:4326', [cx], [cy])
        entry['region_id'] = lonlat_to_region_id(lons[0], lats[0], region_grid)
    return entry


def build_geo_index(
    root: str,
    out_path: str,
    bands_per_date: dict[str, int] | None = None,
    region_grid: tuple[int, int] = (64, 64),
    on_bad_sample: str = 'raise',
    sample_dirs: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Build an index from ``root/<sample_id>/`` folders and write it to ``out_path``.

    Args:
        root: folder holding one sub-folder per sample.
        out_path: JSON file to write; paths inside are relative to its folder.
        bands_per_date: overrides of :data:`DEFAULT_BANDS_PER_DATE`.
        region_grid: ``(n_lat, n_lon)`` of the region grid when no ``REGION_ID`` tag is set.
        on_bad_sample: ``'raise'`` stops at the first bad folder; ``'skip'`` leaves it out and
            lists it under ``metainfo.skipped``.
        sample_dirs: only these sub-folders of ``root`` (default: all).

    Returns:
        the index content that was written.
    """
    if on_bad_sample not in ('raise', 'skip'):
        raise ValueError(f"on_bad_sample must be 'raise' or 'skip', got {on_bad_sample!r}")
    if not osp.isdir(root):
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
                build_sample_entry(osp.join(root, name), index_dir, bands_per_date, region_grid)
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
            bands_per_date={**DEFAULT_BANDS_PER_DATE, **(bands_per_date or {})},
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
