"""A generator of realistic, small, geo-aligned multi-modal GeoTIFF samples (tests and demo).

One ground-level land-cover map per sample (water, vegetation, built-up, bare soil as smooth
random blobs, a sum of random plane waves so it can be evaluated at any ground point) is
rendered into every modality: HR RGB at ~0.3 m, Sentinel-2 reflectance (10 bands) and
Sentinel-1 VV/VH backscatter (dB) at 10 m, each 10 m pixel mixing the classes it covers. The
same ground is therefore water in RGB, S2 and S1. Dates bring seasonal change; nodata holes,
clouds and swath gaps are planted; an OSM-like label raster comes from the same map with
unlabelled patches (255). Files carry a real UTM CRS and north-up transforms, and the S2/S1
grids are offset from the HR tile (as real 10 m grids are) so that alignment is not trivial.
"""

import datetime
import os
import os.path as osp
from typing import Any

import numpy as np

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
) -> dict[str, Any]:
    """Write one sample folder (layout of docs/data_format.md); returns its description."""
    from rasterio.transform import from_origin

    for name, layout in (('s2_layout', s2_layout), ('s1_layout', s1_layout)):
        if layout not in ('per_date', 'multi_date'):
            raise ValueError(f"{name} must be 'per_date' or 'multi_date', got {layout!r}")
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
    land = _LandCover(rng)

    # HR RGB: class colours, texture, a nodata hole (0 is nodata: valid pixels are >= 1)
    xs = x0 + (np.arange(hr_size) + 0.5) * hr_gsd
    ys = y0 - (np.arange(hr_size) + 0.5) * hr_gsd
    hr_cls = land.classes(xs, ys)
    rgb = HR_RGB[hr_cls].transpose(2, 0, 1)
    rgb = rgb + rng.normal(0, 6.0, size=rgb.shape)
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
        refl = _s2_reflectance(frac, day.timetuple().tm_yday, rng)
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
        db = _s1_backscatter(frac, day.timetuple().tm_yday, rng)
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
        osm = OSM_IDS[hr_cls]
        # OSM is incomplete: smooth patches of the map have no tag
        gaps = _LandCover(rng, num_classes=1, wavelength_m=(40.0, 160.0)).fields(xs, ys)[0]
        osm = np.where(gaps > np.quantile(gaps, 0.7), OSM_UNLABELLED, osm).astype(np.uint8)
        _write(
            osp.join(folder, 'osm.tif'),
            osm[None],
            from_origin(x0, y0, hr_gsd, hr_gsd),
            None,
            dict(CLASSES=','.join(CLASSES), UNLABELLED=str(OSM_UNLABELLED)),
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
) -> dict[str, Any]:
    """Write ``num_samples`` sample folders under ``out_dir/samples`` and their index.

    Defaults are small (HR 256 x 256 at 0.3125 m = 80 m, S2/S1 8 x 8 at 10 m plus a margin);
    ``hr_size=2048`` gives the paper's 640 m sample (S2/S1 64 x 64). ``hr_overviews`` writes
    internal 2x, 4x, ... overviews into the HR GeoTIFF, as cloud-optimised GeoTIFFs have. Returns
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
        )
        for i in range(num_samples)
    ]
    index_path = osp.join(out_dir, 'index.json')
    if write_index:
        from .index import build_geo_index

        build_geo_index(root, index_path)
    return dict(root=root, index_path=index_path if write_index else None, samples=samples)
