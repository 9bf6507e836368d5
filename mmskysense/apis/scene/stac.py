"""STAC items as scene inputs: bands picked by name, one multi-band raster per item, a series
in datetime order (docs/interfaces.md, SceneInputs; docs/data_format.md, Remote rasters and
STAC).

An item (a JSON file or URL, read with ``pystac``; an ItemCollection file holds several) lists
its assets with their bands (``eo:bands`` of the STAC 1.0 eo extension, or the ``bands`` of
STAC 1.1: ``name``, ``common_name``). The bands the model takes are matched by name
(``match_bands`` of the raster package, the project's one band match), and the assets holding them
become the bands of one VRT per item, written in a temporary folder: its sources are the
assets' own paths or URLs (``/vsicurl/``), so a tile still reads only its window of each asset
(range requests for a COG), and the scene reads the VRT as it reads any multi-band file. The
VRT's grid is the finest of the assets' grids over the ground they all cover; a coarser asset
(a 20 m band of a 10 m item) is interpolated bilinearly onto it by GDAL. The VRT carries the
item's date (``ACQUISITION_DATE``) and each band's name as its description.
"""

import datetime
import json
import os.path as osp
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from mmskysense.datasets.raster import (
    MissingRasterError,
    RasterError,
    check_north_up,
    crs_name,
    gdal_path,
    grid_box,
    is_virtual,
    join_path,
    match_bands,
    open_raster,
    overlap_window,
    pixel_span,
)

_RASTER_TYPES = ('image/tiff', 'image/vnd.stac.geotiff', 'image/jp2', 'application/x-vrt')
_RASTER_EXT = ('.tif', '.tiff', '.jp2', '.vrt')
_GDAL_TYPES = dict(
    uint8='Byte',
    int8='Int8',
    uint16='UInt16',
    int16='Int16',
    uint32='UInt32',
    int32='Int32',
    float32='Float32',
    float64='Float64',
)


def is_stac(path: str) -> bool:
    """A STAC item or item collection: a ``.json`` file or URL (a query string aside)."""
    return path.split('?', 1)[0].lower().endswith('.json')


@dataclass
class ItemBand:
    """One band of an asset of a STAC item.

    ``href``: the asset's file (absolute path or URL); ``index``: the 1-based band in it;
    ``name``, ``common_name``: its STAC names (either may be None: an asset without band
    metadata is matched by its key alone).
    """

    asset: str
    href: str
    index: int
    name: str | None
    common_name: str | None
    asset_bands: int

    @property
    def names(self) -> list[str]:
        """The names it answers to: its name, its common name, a one-band asset's key."""
        keys = [self.name, self.common_name, self.asset if self.asset_bands == 1 else None]
        return [n for n in keys if n]

    def label(self) -> str:
        common = f' ({self.common_name})' if self.common_name and self.name else ''
        where = f'{self.asset}' if self.asset_bands == 1 else f'{self.asset} band {self.index}'
        return f'{self.name or self.common_name or self.asset}{common} [asset {where}]'


def _band_list(asset: Any) -> list[dict] | None:
    """An asset's band objects: STAC 1.1 ``bands``, else the eo extension's ``eo:bands``."""
    for key in ('bands', 'eo:bands'):
        bands = asset.extra_fields.get(key)
        if isinstance(bands, list) and bands and all(isinstance(b, dict) for b in bands):
            return bands
    return None


def _is_raster(asset: Any) -> bool:
    media = (asset.media_type or '').lower()
    if media:
        return any(media.startswith(t) for t in _RASTER_TYPES)
    return asset.href.split('?', 1)[0].lower().endswith(_RASTER_EXT)


def item_bands(item: Any, base: str) -> list[ItemBand]:
    """The bands of an item's raster assets, in the item's order. A band of a multi-band
    asset (a ``visual`` composite) whose name a one-band asset also carries is left out: the
    one-band asset holds that band's data, the composite a rendering of it."""
    bands = []
    for key, asset in item.assets.items():
        if not _is_raster(asset):
            continue
        href = asset.get_absolute_href() or asset.href
        href = join_path(base, href) if not (is_virtual(href) or osp.isabs(href)) else href
        listed = _band_list(asset)
        if listed is None:
            bands.append(ItemBand(key, href, 1, None, None, 1))
            continue
        for i, b in enumerate(listed, 1):
            common = b.get('common_name') or b.get('eo:common_name')
            bands.append(ItemBand(key, href, i, b.get('name'), common, len(listed)))
    single = {n.lower() for b in bands if b.asset_bands == 1 for n in (b.name, b.common_name) if n}
    return [
        b
        for b in bands
        if b.asset_bands == 1 or not any(n.lower() in single for n in (b.name, b.common_name) if n)
    ]


def _as_listed(band: ItemBand) -> dict:
    """A band as ``match_bands`` reads a file's band: its STAC names (a one-band asset without
    band metadata answers to its key)."""
    name = band.name or (band.asset if band.asset_bands == 1 else None)
    return dict(name=name, common_name=band.common_name)


def item_date(item: Any, where: str) -> datetime.date:
    """The item's acquisition date: ``datetime``, else ``start_datetime``."""
    stamp = item.datetime or item.common_metadata.start_datetime
    if stamp is None:
        raise RasterError(f'{where}: item {item.id!r} has no datetime nor start_datetime', where)
    return stamp.date()


def read_items(path: str) -> list[tuple[Any, str]]:
    """The items of a STAC item or ItemCollection (a file or URL), each with the location its
    relative asset hrefs are relative to."""
    import pystac

    href = path if is_virtual(path) else osp.abspath(path)
    base = href.rsplit('/', 1)[0]
    try:
        data = pystac.StacIO.default().read_json(href)
    except FileNotFoundError as err:
        raise MissingRasterError(
            f'{path}: file does not exist (expected a STAC item JSON)', path
        ) from err
    except json.JSONDecodeError as err:
        raise RasterError(f'{path}: not valid JSON (expected a STAC item): {err}', path) from err
    except Exception as err:  # pystac wraps urllib's errors in a bare Exception
        cause = err.__cause__ or err
        status = getattr(cause, 'code', None)
        if status == 404:
            raise MissingRasterError(
                f'{path}: does not exist (the server answered HTTP 404; expected a STAC item)', path
            ) from err
        why = f'the server answered HTTP {status}' if status else str(cause)
        raise RasterError(f'{path}: cannot be read: {why} (expected a STAC item)', path) from err
    try:
        if isinstance(data, dict) and data.get('type') == 'FeatureCollection':
            items = [pystac.Item.from_dict(f, preserve_dict=False) for f in data['features']]
        else:
            items = [pystac.Item.from_dict(data, href=href, preserve_dict=False)]
    except (pystac.STACError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise RasterError(f'{path}: not a STAC item or ItemCollection: {err!r}', path) from err
    if not items:
        raise RasterError(f'{path}: an ItemCollection without items', path)
    return [(item, base) for item in items]


def _safe(text: str) -> str:
    return re.sub(r'[^A-Za-z0-9._-]+', '_', text)[:100] or 'item'


def item_vrt(item: Any, bands: Sequence[ItemBand], dst: str, where: str, day: datetime.date) -> str:
    """A VRT at ``dst`` of ``bands`` of ``item`` (their order), on the finest of their assets'
    grids over the ground they all cover; nodata kept per band. Returns ``dst``."""
    headers = {}
    for b in bands:
        if b.href in headers:
            continue
        expected = f'asset {b.asset!r} of the STAC item {where}, a raster'
        with open_raster(b.href, expected=expected) as src:
            check_north_up(src, b.href)
            headers[b.href] = (src.crs, src.transform, src.height, src.width, src.count,
                               src.dtypes, src.nodatavals)  # fmt: skip
    first = bands[0].href
    for b in bands:
        crs, *_, count, _, _ = headers[b.href]
        if crs != headers[first][0]:
            raise RasterError(
                f'{b.href}: CRS {crs_name(crs)} differs from {crs_name(headers[first][0])} of '
                f'{first} (assets of the STAC item {where}); reproject one of them first',
                b.href,
            )
        if b.name is None and b.common_name is None and count > 1:
            raise RasterError(
                f'{b.href}: has {count} bands and the STAC item {where} names none of them '
                f'(asset {b.asset!r}: no eo:bands / bands); cannot tell which band is '
                f'{b.asset!r}',
                b.href,
            )
        if b.index > count:
            raise RasterError(
                f'{b.href}: has {count} bands; the STAC item {where} lists band {b.index} of its '
                f'asset {b.asset!r}',
                b.href,
            )
    # the finest grid, restricted to the whole pixels on ground every asset covers
    fine = min(headers, key=lambda h: abs(headers[h][1].a * headers[h][1].e))
    _, t, h, w = headers[fine][:4]
    window = overlap_window(t, (h, w), [grid_box(hd[1], hd[2:4]) for hd in headers.values()])
    if window is None:
        raise RasterError(f'{where}: the assets {sorted(headers)} share no ground', where)
    r0, c0, nh, nw = window
    vt = t @ type(t).translation(c0, r0)
    box = grid_box(vt, (nh, nw))
    dtype = np.result_type(*(headers[b.href][5][b.index - 1] for b in bands)).name
    if dtype not in _GDAL_TYPES:
        raise RasterError(f'{where}: band data type {dtype} is not supported in a VRT', where)
    parts = []
    for n, b in enumerate(bands, 1):
        _, st, *_, nodatas = headers[b.href]
        cl, rl, ch, rh = pixel_span(st, box)
        nd = nodatas[b.index - 1]
        nodata = '' if nd is None else f'<NoDataValue>{nd!r}</NoDataValue>'
        src_nodata = '' if nd is None else f'<NODATA>{nd!r}</NODATA>'
        same = abs(st.a - vt.a) < 1e-9 * abs(vt.a) and abs(st.e - vt.e) < 1e-9 * abs(vt.e)
        parts.append(
            f'<VRTRasterBand dataType="{_GDAL_TYPES[dtype]}" band="{n}">'
            f'<Description>{escape(b.name or b.common_name or b.asset)}</Description>{nodata}'
            f'<ComplexSource resampling="{"nearest" if same else "bilinear"}">'
            f'<SourceFilename relativeToVRT="0">{escape(gdal_path(b.href))}</SourceFilename>'
            f'<SourceBand>{b.index}</SourceBand>'
            f'<SrcRect xOff="{cl!r}" yOff="{rl!r}" xSize="{ch - cl!r}" ySize="{rh - rl!r}"/>'
            f'<DstRect xOff="0" yOff="0" xSize="{nw}" ySize="{nh}"/>{src_nodata}'
            '</ComplexSource></VRTRasterBand>'
        )
    crs = headers[fine][0]
    srs = f'<SRS>{escape(crs.to_wkt())}</SRS>' if crs is not None else ''
    tags = dict(ACQUISITION_DATE=day.isoformat(), STAC_ITEM=item.id, STAC_SOURCE=where)
    meta = ''.join(f'<MDI key={quoteattr(k)}>{escape(v)}</MDI>' for k, v in tags.items())
    doc = (
        f'<VRTDataset rasterXSize="{nw}" rasterYSize="{nh}">{srs}'
        f'<GeoTransform>{vt.c!r}, {vt.a!r}, {vt.b!r}, {vt.f!r}, {vt.d!r}, {vt.e!r}</GeoTransform>'
        f'<Metadata>{meta}</Metadata>{"".join(parts)}</VRTDataset>'
    )
    with open(dst, 'w', encoding='utf-8') as f:
        f.write(doc)
    return dst


@dataclass
class StacInput:
    """A STAC input made into rasters: ``paths`` (one VRT per item, in datetime order),
    ``dates`` and ``items`` alike, ``bands`` the item bands each VRT holds."""

    paths: list[str]
    dates: list[datetime.date]
    items: list[str]
    bands: list[list[ItemBand]]


def stac_input(
    sources: Sequence[str], names: Sequence[str], dst_dir: str, family: str | None = None
) -> StacInput:
    """The items of ``sources`` (item or ItemCollection files / URLs) as one VRT each of the
    bands ``names`` (the model's order; names of ``family``'s band table, e.g. ``'s2'``, carry
    their common names and wavelengths into the match), sorted by the items' dates (a
    series). Bands are matched by ``match_bands``, the project's one band match."""
    if not names:
        raise ValueError('a STAC input needs the names of the bands the model takes')
    entries = []
    for source in sources:
        for item, base in read_items(source):
            where = f'{source} (item {item.id!r})'
            entries.append((item_date(item, where), item, base, where))
    entries.sort(key=lambda e: (e[0], e[1].id))  # a series in date order, whatever the paths
    out = StacInput([], [], [], [])
    for day, item, base, where in entries:
        available = item_bands(item, base)
        picked = match_bands(names, [_as_listed(b) for b in available], where, family)
        bands = [available[p - 1] for p in picked]
        dst = osp.join(dst_dir, f'stac_{len(out.paths):03d}_{_safe(item.id)}.vrt')
        out.paths.append(item_vrt(item, bands, dst, where, day))
        out.dates.append(day)
        out.items.append(where)
        out.bands.append(bands)
    return out


def expand_stac_inputs(
    files: Mapping[str, Sequence[str]], band_names: Mapping[str, Sequence[str]], dst_dir: str
) -> tuple[dict[str, list[str]], dict[str, StacInput]]:
    """``files`` (per input, its paths) with each input given as STAC items replaced by one
    VRT per item (``stac_input``) of the bands ``band_names[input]`` (the input's name is its
    band family: ``'s2'``, ``'s1'``, ``'hr'``); also the STAC inputs."""
    out, stac = {}, {}
    for name, paths in files.items():
        kinds = {is_stac(p) for p in paths}
        if kinds != {True}:
            if True in kinds:
                raise ValueError(
                    f'the input {name!r} mixes STAC items and rasters ({list(paths)}); give '
                    'one kind'
                )
            out[name] = list(paths)
            continue
        if not band_names.get(name):
            raise ValueError(
                f'{paths[0]}: a STAC input: name the bands the model takes for the input '
                f'{name!r}, in its order (--stac-bands {name}=B04,B03,B02 or the common names)'
            )
        stac[name] = stac_input(paths, band_names[name], dst_dir, family=name)
        out[name] = list(stac[name].paths)
    return out, stac
