"""A generator of realistic, small, geo-aligned multi-modal GeoTIFF samples (tests and demo).

One ground-level land-cover map per sample is rendered into every modality: HR RGB at ~0.3 m,
Sentinel-2 reflectance (10 bands) and Sentinel-1 VV/VH backscatter (dB) at 10 m, each 10 m pixel
mixing the ground it covers. Dates bring seasonal change; nodata holes, clouds and swath gaps are
planted; an OSM-like label raster comes from the same map with unlabelled patches (255), at the
world's classes or, with ``osm_groups``, at coarser ones (classes merged, as a map's coarser
legend merges them; the imagery is the same for the same seed). Files
carry a real UTM CRS and north-up transforms, and the S2/S1 grids are offset from the HR tile
(as real 10 m grids are) so that alignment is not trivial.

Two worlds (``world=``):

* ``'colour'`` (the demo's): water, vegetation, built-up, bare soil as smooth random blobs (a
  sum of random plane waves, so it can be evaluated at any ground point), each class with its
  own colour and spectrum, so the same ground is water in RGB, S2 and S1. Easy: colour alone
  separates the classes.
* ``'texture'``: the ground is cut into regions (a Voronoi tessellation with wavy borders);
  each region has a class defined by its texture and structure in HR (crop rows, a grid of
  buildings, tree crowns, a mosaic of fields, a smooth surface), drawn with two colours chosen
  at random per region, and a random spectrum and backscatter in S2 / S1. Only the HR texture
  tells the class: colour, spectrum and backscatter carry none of it, so colour jitter removes
  nothing useful and a model must see structure to separate the classes.
"""

import datetime
import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

import numpy as np

from mmskysense.structures.dates import date_code

CLASSES = ('water', 'vegetation', 'built_up', 'bare_soil')
S2_BANDS = ('B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8', 'B8A', 'B11', 'B12')
# typical surface reflectance per class and S2 band
S2_SPECTRA = np.array(
    [
        [0.060, 0.050, 0.030, 0.020, 0.015, 0.012, 0.010, 0.009, 0.005, 0.003],  # water
        [0.030, 0.060, 0.040, 0.100, 0.250, 0.320, 0.350, 0.360, 0.200, 0.100],  # vegetation
        [0.100, 0.110, 0.120, 0.130, 0.140, 0.150, 0.160, 0.160, 0.200, 0.180],  # built-up
        [0.080, 0.110, 0.150, 0.180, 0.210, 0.230, 0.250, 0.260, 0.320, 0.280],  # bare soil
    ],
    dtype=np.float32,
)
# sigma0 VV, VH in dB: water is a specular reflector (dark), built-up double-bounce (bright)
S1_SIGMA0_DB = np.array(
    [[-22.0, -28.0], [-11.0, -17.0], [-5.0, -11.0], [-14.0, -22.0]], dtype=np.float32
)
HR_RGB = np.array([[35, 60, 90], [60, 105, 45], [150, 148, 145], [170, 140, 100]], dtype=np.float32)
# OSM-like label ids of the classes (water, landuse=grass/forest, building, bare ground)
OSM_IDS = np.array([0, 1, 2, 3], dtype=np.uint8)
OSM_UNLABELLED = 255
UTM_EPSG = 32633


class _LandCover:
    """Smooth random class fields: field_c(x, y) = sum_k a_k cos(kx x + ky y + phi)."""

    def __init__(
        self,
        rng: np.random.Generator,
        num_classes: int = len(CLASSES),
        num_waves: int = 8,
        wavelength_m: tuple[float, float] = (30.0, 150.0),
    ) -> None:
        lam = rng.uniform(*wavelength_m, size=(num_classes, num_waves))
        theta = rng.uniform(0, 2 * np.pi, size=(num_classes, num_waves))
        self.kx = 2 * np.pi / lam * np.cos(theta)
        self.ky = 2 * np.pi / lam * np.sin(theta)
        self.phase = rng.uniform(0, 2 * np.pi, size=(num_classes, num_waves))
        self.amp = rng.uniform(0.5, 1.0, size=(num_classes, num_waves))
        self.bias = rng.normal(0, 0.3, size=num_classes)

    def fields(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """``classes x len(ys) x len(xs)`` on the grid of ground coordinates; cos(a + b) is split
        into products so the grid costs two small matrix products per class."""
        out = np.empty((len(self.bias), len(ys), len(xs)), dtype=np.float64)
        for c in range(len(self.bias)):
            ax = self.kx[c][None] * xs[:, None] + self.phase[c][None]  # W x K
            by = self.ky[c][None] * ys[:, None]  # H x K
            out[c] = (
                (np.cos(by) * self.amp[c]) @ np.cos(ax).T
                - (np.sin(by) * self.amp[c]) @ np.sin(ax).T
                + self.bias[c]
            )
        return out

    def classes(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        return np.argmax(self.fields(xs, ys), axis=0).astype(np.uint8)

    def fractions(
        self, x0: float, y0: float, res: float, shape: tuple[int, int], supersample: int = 8
    ) -> np.ndarray:
        """Per-class area fractions of the pixels of a north-up grid (mixed pixels)."""
        h, w = shape
        sub = (np.arange(supersample) + 0.5) / supersample
        xs = x0 + (np.arange(w)[:, None] + sub[None]).reshape(-1) * res
        ys = y0 - (np.arange(h)[:, None] + sub[None]).reshape(-1) * res
        cls = self.classes(xs, ys).reshape(h, supersample, w, supersample)
        onehot = np.stack([(cls == c) for c in range(len(self.bias))])
        return onehot.mean(axis=(2, 4)).astype(np.float32)


# the texture world's classes (OSM-like label = index): structure, not colour, tells them apart
TEXTURE_CLASSES = ('crop_rows', 'buildings', 'tree_crowns', 'field_mosaic', 'smooth_surface')
WORLDS = ('colour', 'texture')


def _hash01(*keys: np.ndarray) -> np.ndarray:
    """A deterministic uniform [0, 1) number per tuple of integer arrays (FNV-1a style), so a
    texture element (a building, a tree) is the same wherever and at whatever resolution it is
    evaluated."""
    h = np.full(np.broadcast(*keys).shape, 14695981039346656037, dtype=np.uint64)
    for k in keys:
        h = (h ^ np.asarray(k).astype(np.int64).astype(np.uint64)) * np.uint64(1099511628211)
        h ^= h >> np.uint64(29)
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


class _TextureWorld:
    """Regions whose class is their texture; colours, spectra and backscatter random per region.

    The regions are the cells of a jittered grid of seeds (``region_m`` apart) with wavy
    borders: a ground point belongs to the nearest seed among the 3 x 3 cells around it, after a
    smooth displacement. Every quantity is a function of the ground point alone, so the HR pixels,
    the 10 m pixels and the labels of one sample agree wherever they are evaluated.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        bounds: tuple[float, float, float, float],
        region_m: float = 80.0,
        margin_m: float = 60.0,
    ) -> None:
        minx, miny, maxx, maxy = bounds
        self.x0, self.y0, self.cell = minx - margin_m, miny - margin_m, region_m
        gw = int(np.ceil((maxx - minx + 2 * margin_m) / region_m)) + 1
        gh = int(np.ceil((maxy - miny + 2 * margin_m) / region_m)) + 1
        self.shape = (gh, gw)
        n = gh * gw
        # seed of cell (i, j) at x0 + (j + u) * cell, y0 + (i + v) * cell, u, v in [0.15, 0.85)
        self.seed_xy = rng.uniform(0.15, 0.85, size=(n, 2))
        self.cls = rng.integers(0, len(TEXTURE_CLASSES), size=n)
        # two colours per region, far enough apart for the texture to show
        c1 = rng.uniform(15, 240, size=(n, 3))
        c2 = rng.uniform(15, 240, size=(n, 3))
        for _ in range(50):
            close = np.linalg.norm(c1 - c2, axis=1) < 70
            if not close.any():
                break
            c2[close] = rng.uniform(15, 240, size=(int(close.sum()), 3))
        self.colours = np.stack([c2, c1], axis=1)  # n x 2 x 3: texture value 0 -> c2, 1 -> c1
        self.theta = rng.uniform(0, np.pi, size=n)
        self.scale = rng.uniform(0.8, 1.25, size=n)
        self.offset = rng.uniform(0, 100, size=(n, 2))
        self.key = rng.integers(0, 2**31, size=n)
        # S2 / S1: a random mixture of the colour world's materials per region (no class cue)
        self.mix = rng.dirichlet(np.ones(len(CLASSES)), size=n).astype(np.float32)
        self.warp = _LandCover(rng, num_classes=2, num_waves=4, wavelength_m=(25.0, 80.0))
        self.warp_m = 3.0

    def regions(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Region index of each ground point (``x``, ``y`` arrays of one shape)."""
        wx = self.warp_m / 3.0 * self._waves(0, x, y)
        wy = self.warp_m / 3.0 * self._waves(1, x, y)
        px = (x + wx - self.x0) / self.cell
        py = (y + wy - self.y0) / self.cell
        ci, cj = np.floor(py).astype(np.int64), np.floor(px).astype(np.int64)
        gh, gw = self.shape
        best = np.full(x.shape, np.inf)
        out = np.zeros(x.shape, dtype=np.int64)
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                i = np.clip(ci + di, 0, gh - 1)
                j = np.clip(cj + dj, 0, gw - 1)
                idx = i * gw + j
                d = (px - j - self.seed_xy[idx, 0]) ** 2 + (py - i - self.seed_xy[idx, 1]) ** 2
                closer = d < best
                best = np.where(closer, d, best)
                out = np.where(closer, idx, out)
        return out

    def _waves(self, c: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        w = self.warp
        arg = w.kx[c][None] * x.reshape(-1, 1) + w.ky[c][None] * y.reshape(-1, 1)
        return (np.cos(arg + w.phase[c][None]) * w.amp[c][None]).sum(1).reshape(x.shape)

    def texture(self, r: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Texture value in [0, 1] (0: the region's second colour, 1: its first) of each point
        of regions ``r``: the class's pattern in the region's own orientation and scale."""
        th, s = self.theta[r], self.scale[r]
        u = (x * np.cos(th) + y * np.sin(th)) / s + self.offset[r, 0]
        v = (-x * np.sin(th) + y * np.cos(th)) / s + self.offset[r, 1]
        key = self.key[r]
        cls = self.cls[r]
        t = np.zeros(x.shape)
        # crop rows: parallel stripes, 4 m apart
        m = cls == 0
        t[m] = np.clip(0.5 + 1.5 * np.sin(2 * np.pi * u[m] / 4.0), 0, 1)
        # buildings: a grid of square roofs (6 m in 10 m blocks), a few lots empty
        m = cls == 1
        bu, bv = u[m] / 10.0, v[m] / 10.0
        iu, iv = np.floor(bu), np.floor(bv)
        roof = (np.abs(bu - iu - 0.5) < 0.3) & (np.abs(bv - iv - 0.5) < 0.3)
        t[m] = roof & (_hash01(iu, iv, key[m]) < 0.85)
        # tree crowns: domes of radius 1.5-2.3 m on a jittered 5 m grid, some gaps
        m = cls == 2
        gu, gv = u[m] / 5.0, v[m] / 5.0
        best = np.zeros(gu.shape)
        for du in (-1, 0, 1):
            for dv in (-1, 0, 1):
                iu, iv = np.floor(gu) + du, np.floor(gv) + dv
                cu = iu + 0.2 + 0.6 * _hash01(iu, iv, key[m], 1)
                cv = iv + 0.2 + 0.6 * _hash01(iu, iv, key[m], 2)
                rad = (1.5 + 0.8 * _hash01(iu, iv, key[m], 3)) / 5.0
                here = _hash01(iu, iv, key[m], 4) < 0.85
                d2 = ((gu - cu) ** 2 + (gv - cv) ** 2) / rad**2
                best = np.maximum(best, np.where(here, np.sqrt(np.clip(1 - d2, 0, 1)), 0))
        t[m] = best
        # field mosaic: 9 m x 5 m parcels, each its own shade, with dark 0.4 m boundaries
        m = cls == 3
        fu, fv = u[m] / 9.0, v[m] / 5.0
        iu, iv = np.floor(fu), np.floor(fv)
        edge = np.minimum(
            np.minimum(fu - iu, 1 - (fu - iu)) * 9.0, np.minimum(fv - iv, 1 - (fv - iv)) * 5.0
        )
        t[m] = np.where(edge < 0.4, 0.0, 0.25 + 0.75 * _hash01(iu, iv, key[m]))
        # smooth surface (water, bare ground, tarmac): a slow gradient, no structure
        m = cls == 4
        t[m] = 0.5 + 0.2 * np.sin(2 * np.pi * u[m] / 60.0)
        return t

    def render_hr(
        self, xs: np.ndarray, ys: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Class map ``H x W`` and RGB ``3 x H x W`` (float) of the grid ``xs`` x ``ys``."""
        x, y = np.meshgrid(xs, ys)
        r = self.regions(x, y)
        t = self.texture(r, x, y)[..., None]
        col = self.colours[r]  # H x W x 2 x 3
        rgb = col[..., 0, :] + t * (col[..., 1, :] - col[..., 0, :])
        rgb = rgb.transpose(2, 0, 1) + rng.normal(0, 5.0, size=(3, *x.shape))
        return self.cls[r].astype(np.uint8), rgb

    def fractions(
        self, x0: float, y0: float, res: float, shape: tuple[int, int], supersample: int = 8
    ) -> np.ndarray:
        """Per-pixel fractions of the colour world's four materials (``4 x H x W``): each 10 m
        pixel mixes the random material mixtures of the regions it covers."""
        h, w = shape
        sub = (np.arange(supersample) + 0.5) / supersample
        xs = x0 + (np.arange(w)[:, None] + sub[None]).reshape(-1) * res
        ys = y0 - (np.arange(h)[:, None] + sub[None]).reshape(-1) * res
        x, y = np.meshgrid(xs, ys)
        mix = self.mix[self.regions(x, y)]  # (h s) x (w s) x 4
        mix = mix.reshape(h, supersample, w, supersample, -1).mean(axis=(1, 3))
        return mix.transpose(2, 0, 1).astype(np.float32)


def _seasonal_vegetation(doy: int) -> float:
    """Greenness, peaking in early summer (northern hemisphere)."""
    return 0.65 + 0.35 * float(np.cos(2 * np.pi * (doy - 170) / 365.0))


def _s2_reflectance(frac: np.ndarray, doy: int, rng: np.random.Generator) -> np.ndarray:
    spectra = S2_SPECTRA.copy()
    green = _seasonal_vegetation(doy)
    spectra[1, 3:8] *= green  # red edge / NIR follow the season
    spectra[1, 2] *= 2.0 - green  # red absorption drops when vegetation is green
    refl = np.einsum('chw,cb->bhw', frac, spectra)
    refl += rng.normal(0, 0.004, size=refl.shape).astype(np.float32)
    return np.clip(refl, 0.0005, 1.0)


def _s1_backscatter(frac: np.ndarray, doy: int, rng: np.random.Generator) -> np.ndarray:
    power = np.einsum('chw,cb->bhw', frac, 10.0 ** (S1_SIGMA0_DB / 10.0))
    db = 10.0 * np.log10(power)
    db += 1.0 * (_seasonal_vegetation(doy) - 0.65) * frac[1][None]  # wetter canopy in summer
    db += rng.normal(0, 0.7, size=db.shape)  # speckle after multilooking
    return db.astype(np.float32)


def _random_rect(
    rng: np.random.Generator, shape: tuple[int, int], frac_range: tuple[float, float]
) -> tuple[slice, slice]:
    h, w = shape
    fh, fw = rng.uniform(*frac_range, size=2)
    hh, ww = max(1, int(round(h * fh))), max(1, int(round(w * fw)))
    r, c = int(rng.integers(0, h - hh + 1)), int(rng.integers(0, w - ww + 1))
    return slice(r, r + hh), slice(c, c + ww)


def _dates(rng: np.random.Generator, n: int, year: int) -> list[datetime.date]:
    """``n`` distinct acquisition dates spread over a year, jittered."""
    base = np.linspace(1, 365, n, endpoint=False) + rng.uniform(0, 365 / max(n, 1) - 1, size=n)
    days = sorted(set(int(d) for d in np.clip(np.round(base), 1, 365)))
    while len(days) < n:  # collisions after rounding: fill with unused days
        days = sorted(set(days) | {int(rng.integers(1, 366))})
    return [datetime.date(year, 1, 1) + datetime.timedelta(days=d - 1) for d in days]


def _write(
    path: str,
    data: np.ndarray,
    transform: Any,
    nodata: float | None,
    tags: dict[str, str],
    descriptions: list[str] | None = None,
    overviews: bool = False,
) -> None:
    import rasterio
    from rasterio.crs import CRS
    from rasterio.enums import Resampling

    count, height, width = data.shape
    profile = dict(
        driver='GTiff',
        width=width,
        height=height,
        count=count,
        dtype=data.dtype,
        crs=CRS.from_epsg(UTM_EPSG),
        transform=transform,
        nodata=nodata,
        compress='deflate',
    )
    if height >= 256 and width >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(data)
        dst.update_tags(**tags)
        for i, name in enumerate(descriptions or []):
            dst.set_band_description(i + 1, name)
        if overviews:
            # as in a COG: 2x, 4x, ... averaged (GDAL skips nodata), down to ~64 px
            factors = [2**k for k in range(1, 16) if min(height, width) // 2**k >= 64]
            if factors:
                dst.build_overviews(factors, Resampling.average)


def generate_sample(
    folder: str,
    rng: np.random.Generator,
    hr_size: int = 256,
    hr_gsd: float = 0.3125,
    ms_gsd: float = 10.0,
    ms_margin: int = 1,
    num_s2_dates: int = 12,
    num_s1_dates: int = 6,
    s2_layout: str = 'per_date',
    s1_layout: str = 'multi_date',
    with_osm: bool = True,
    nodata: bool = True,
    hr_overviews: bool = True,
    origin: tuple[float, float] | None = None,
    world: str = 'colour',
    osm_groups: Sequence[Sequence[int]] | None = None,
) -> dict[str, Any]:
    """Write one sample folder (layout of docs/data_format.md); returns its description.

    ``world``: ``'colour'`` (classes differ by colour and spectrum) or ``'texture'`` (classes
    differ by HR texture only; see the module docstring). ``osm_groups``: the OSM raster's
    classes as groups of the world's classes (``[[0, 3], [1, 2, 4]]``: two OSM classes, named
    ``crop_rows+field_mosaic`` and ``buildings+tree_crowns+smooth_surface`` in the texture world);
    every class in exactly one group. The imagery does not depend on it.
    """
    from rasterio.transform import from_origin

    for name, layout in (('s2_layout', s2_layout), ('s1_layout', s1_layout)):
        if layout not in ('per_date', 'multi_date'):
            raise ValueError(f"{name} must be 'per_date' or 'multi_date', got {layout!r}")
    if world not in WORLDS:
        raise ValueError(f'generate_sample: `world` must be one of {WORLDS}, got {world!r}')
    if osm_groups is not None:  # checked before anything is written
        _osm_group_table(osm_groups, CLASSES if world == 'colour' else TEXTURE_CLASSES)
    os.makedirs(folder, exist_ok=True)
    if origin is None:
        # somewhere in UTM 33N over land-ish latitudes; HR tile corner off the 10 m grid
        x_ms = 10.0 * int(rng.integers(30_000, 70_000))
        y_ms = 10.0 * int(rng.integers(440_000, 540_000))
        origin = (
            x_ms + hr_gsd * int(rng.integers(0, int(ms_gsd / hr_gsd))),
            y_ms - hr_gsd * int(rng.integers(0, int(ms_gsd / hr_gsd))),
        )
    x0, y0 = origin
    extent = hr_size * hr_gsd
    xs = x0 + (np.arange(hr_size) + 0.5) * hr_gsd
    ys = y0 - (np.arange(hr_size) + 0.5) * hr_gsd
    if world == 'colour':
        land = _LandCover(rng)
        # HR RGB: class colours, noise, a nodata hole (0 is nodata: valid pixels are >= 1)
        hr_cls = land.classes(xs, ys)
        rgb = HR_RGB[hr_cls].transpose(2, 0, 1)
        rgb = rgb + rng.normal(0, 6.0, size=rgb.shape)
        class_names = CLASSES
    else:
        land = _TextureWorld(rng, (x0, y0 - extent, x0 + extent, y0))
        hr_cls, rgb = land.render_hr(xs, ys, rng)
        class_names = TEXTURE_CLASSES
    rgb = np.clip(np.round(rgb), 1, 255).astype(np.uint8)
    hr_hole = None
    if nodata:
        hr_hole = _random_rect(rng, (hr_size, hr_size), (0.08, 0.2))
        rgb[:, hr_hole[0], hr_hole[1]] = 0
    _write(
        osp.join(folder, 'hr.tif'),
        rgb,
        from_origin(x0, y0, hr_gsd, hr_gsd),
        0,
        {},
        ['red', 'green', 'blue'],
        overviews=hr_overviews,
    )

    # the 10 m grid: aligned to multiples of ms_gsd, covering the HR tile plus a margin
    mx0 = np.floor(x0 / ms_gsd) * ms_gsd - ms_margin * ms_gsd
    my0 = np.ceil(y0 / ms_gsd) * ms_gsd + ms_margin * ms_gsd
    mw = int(np.ceil((x0 + extent - mx0) / ms_gsd)) + ms_margin
    mh = int(np.ceil((my0 - (y0 - extent)) / ms_gsd)) + ms_margin
    ms_transform = from_origin(mx0, my0, ms_gsd, ms_gsd)
    frac = land.fractions(mx0, my0, ms_gsd, (mh, mw))
    year = int(rng.integers(2019, 2024))

    s2_dates = _dates(rng, num_s2_dates, year)
    s2_stack = []
    for day in s2_dates:
        refl = _s2_reflectance(frac, date_code(day), rng)
        dn = np.clip(np.round(refl * 10000), 1, 65535).astype(np.uint16)
        if nodata and rng.random() < 0.3:  # a cloud masked to nodata
            rr, cc = _random_rect(rng, (mh, mw), (0.2, 0.5))
            dn[:, rr, cc] = 0
        s2_stack.append(dn)
    s2_desc = list(S2_BANDS)
    if s2_layout == 'per_date':
        os.makedirs(osp.join(folder, 's2'), exist_ok=True)
        for day, dn in zip(s2_dates, s2_stack):
            _write(
                osp.join(folder, 's2', f'S2_{day:%Y%m%d}.tif'),
                dn,
                ms_transform,
                0,
                dict(ACQUISITION_DATE=day.isoformat()),
                s2_desc,
            )
    else:
        _write(
            osp.join(folder, 's2.tif'),
            np.concatenate(s2_stack),
            ms_transform,
            0,
            dict(ACQUISITION_DATES=','.join(d.isoformat() for d in s2_dates)),
            [f'{b}_{d:%Y%m%d}' for d in s2_dates for b in S2_BANDS],
        )

    s1_dates = _dates(rng, num_s1_dates, year)
    s1_stack = []
    for day in s1_dates:
        db = _s1_backscatter(frac, date_code(day), rng)
        if nodata and rng.random() < 0.2:  # swath border: a strip without data
            db[:, :, : max(1, mw // 4)] = np.nan
        s1_stack.append(db)
    if s1_layout == 'per_date':
        os.makedirs(osp.join(folder, 's1'), exist_ok=True)
        for day, db in zip(s1_dates, s1_stack):
            _write(
                osp.join(folder, 's1', f'S1_{day:%Y%m%d}.tif'),
                db,
                ms_transform,
                np.nan,
                dict(ACQUISITION_DATE=day.isoformat()),
                ['VV', 'VH'],
            )
    else:
        _write(
            osp.join(folder, 's1.tif'),
            np.concatenate(s1_stack),
            ms_transform,
            np.nan,
            dict(ACQUISITION_DATES=','.join(d.isoformat() for d in s1_dates)),
            [f'{b}_{d:%Y%m%d}' for d in s1_dates for b in ('VV', 'VH')],
        )

    if with_osm:
        osm = OSM_IDS[hr_cls] if world == 'colour' else hr_cls
        if osm_groups is not None:
            lut, class_names = _osm_group_table(osm_groups, class_names)
            osm = lut[osm]
        # OSM is incomplete: smooth patches of the map have no tag
        gaps = _LandCover(rng, num_classes=1, wavelength_m=(40.0, 160.0)).fields(xs, ys)[0]
        osm = np.where(gaps > np.quantile(gaps, 0.7), OSM_UNLABELLED, osm).astype(np.uint8)
        _write(
            osp.join(folder, 'osm.tif'),
            osm[None],
            from_origin(x0, y0, hr_gsd, hr_gsd),
            None,
            dict(CLASSES=','.join(class_names), UNLABELLED=str(OSM_UNLABELLED)),
        )
    return dict(
        folder=folder,
        origin=(x0, y0),
        bounds=(x0, y0 - extent, x0 + extent, y0),
        s2_dates=[d.isoformat() for d in s2_dates],
        s1_dates=[d.isoformat() for d in s1_dates],
        hr_hole=hr_hole,
        ms_transform=tuple(ms_transform)[:6],
    )


def _osm_group_table(
    groups: Sequence[Sequence[int]], class_names: Sequence[str]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The lookup table world class -> OSM class of ``osm_groups``, and the groups' names."""
    members = sorted(int(c) for g in groups for c in g)
    if members != list(range(len(class_names))) or any(len(g) == 0 for g in groups):
        raise ValueError(
            f'osm_groups: every class of {tuple(class_names)} (0-{len(class_names) - 1}) must '
            f'be in exactly one non-empty group, got {[list(g) for g in groups]}'
        )
    lut = np.zeros(len(class_names), dtype=np.uint8)
    for i, group in enumerate(groups):
        lut[list(group)] = i
    return lut, tuple('+'.join(class_names[c] for c in g) for g in groups)


def generate_geo_dataset(
    out_dir: str,
    num_samples: int = 4,
    seed: int = 0,
    hr_size: int = 256,
    hr_gsd: float = 0.3125,
    ms_gsd: float = 10.0,
    ms_margin: int = 1,
    num_s2_dates: int = 12,
    num_s1_dates: int = 6,
    s2_layout: str = 'per_date',
    s1_layout: str = 'multi_date',
    with_osm: bool = True,
    nodata: bool = True,
    hr_overviews: bool = True,
    write_index: bool = True,
    world: str = 'colour',
    osm_groups: Sequence[Sequence[int]] | None = None,
) -> dict[str, Any]:
    """Write ``num_samples`` sample folders under ``out_dir/samples`` and their index.

    Defaults are small (HR 256 x 256 at 0.3125 m = 80 m, S2/S1 8 x 8 at 10 m plus a margin);
    ``hr_size=2048`` gives the paper's 640 m sample (S2/S1 64 x 64). ``hr_overviews`` writes
    internal 2x, 4x, ... overviews into the HR GeoTIFF, as cloud-optimised GeoTIFFs have.
    ``world='texture'`` writes the texture world (classes by HR structure, colour random);
    ``osm_groups`` merges its classes in the OSM raster (``generate_sample``). Returns
    ``dict(root, index_path, samples=[per-sample descriptions])``.
    """
    if hr_size * hr_gsd < ms_gsd:
        raise ValueError(
            f'hr_size * hr_gsd = {hr_size * hr_gsd} m is smaller than one {ms_gsd} m pixel'
        )
    rng = np.random.default_rng(seed)
    root = osp.join(out_dir, 'samples')
    samples = [
        generate_sample(
            osp.join(root, f'sample_{i:05d}'),
            rng,
            hr_size=hr_size,
            hr_gsd=hr_gsd,
            ms_gsd=ms_gsd,
            ms_margin=ms_margin,
            num_s2_dates=num_s2_dates,
            num_s1_dates=num_s1_dates,
            s2_layout=s2_layout,
            s1_layout=s1_layout,
            with_osm=with_osm,
            nodata=nodata,
            hr_overviews=hr_overviews,
            world=world,
            osm_groups=osm_groups,
        )
        for i in range(num_samples)
    ]
    index_path = osp.join(out_dir, 'index.json')
    if write_index:
        from .index import build_geo_index

        build_geo_index(root, index_path)
    return dict(root=root, index_path=index_path if write_index else None, samples=samples)
