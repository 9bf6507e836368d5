"""The vector file of a scene product (polygons of a class map, tile embeddings): GeoPackage or
GeoJSON, never half-written.

The format is the destination's extension (``vector_driver``); an unknown one is refused when
the writer is made, before any tile is read. Features are appended to a temporary file beside the
destination as they are complete, so a writer holds none of them between ``write`` calls;
``commit`` renames the file onto the destination, ``abort`` removes it.

* GeoPackage: through ``pyogrio`` (GDAL's GPKG driver), the layer made empty with its fields
  when the writer is made, then appended to.
* GeoJSON: streamed with ``json``, in the box sink's layout (the pre-2016 ``crs`` member that GDAL
  and QGIS read, an ``mmskysense`` member with the run's facts).

Fields have a kind: ``'int'``, ``'float'``, ``'str'`` or ``'json'`` (a list: a JSON array in
GeoJSON, JSON text in a GeoPackage).
"""

import json
import os
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mmskysense.utils.atomic_files import partial_path, publish

from .pixel_space import coordinates_kind

DRIVERS = {'.gpkg': 'GPKG', '.geojson': 'GeoJSON', '.json': 'GeoJSON'}
FIELD_KINDS = {'int': np.int64, 'float': np.float64, 'str': object, 'json': object}


def _crs_member(crs: Any) -> dict | None:
    if crs is None:
        return None
    epsg = crs.to_epsg()
    name = f'urn:ogc:def:crs:EPSG::{epsg}' if epsg else crs.to_wkt()
    return dict(type='name', properties=dict(name=name))


def vector_driver(path: str) -> str:
    """``'GPKG'`` or ``'GeoJSON'`` by the extension of ``path``; anything else is refused."""
    ext = osp.splitext(path)[1].lower()
    if ext not in DRIVERS:
        raise ValueError(
            f'{path}: unknown vector format {ext or "(no extension)"!r}; '
            f'use one of {", ".join(DRIVERS)}'
        )
    return DRIVERS[ext]


def _sidecars(path: str) -> list[str]:
    return [path, path + '-journal', path + '-wal', path + '-shm']


class VectorWriter:
    """Polygons with attributes into ``dst_path`` (``.gpkg``, ``.geojson`` or ``.json``).

    Args:
        dst_path: the destination.
        fields: name -> kind (``'int'``, ``'float'``, ``'str'``, ``'json'``), in column order.
        crs: the geometries' CRS (a rasterio CRS); a scene without georeference gives
            ``pixel_space.vector_georef``'s (None: bare coordinates, no CRS written).
        layer: the layer's name (default: the destination's stem).
        metadata: stored in the GeoJSON's ``mmskysense`` member (ignored for a GeoPackage).
    """

    def __init__(
        self,
        dst_path: str,
        fields: Mapping[str, str],
        crs: Any = None,
        layer: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.driver = vector_driver(dst_path)
        unknown = {k for k in fields.values() if k not in FIELD_KINDS}
        if unknown:
            raise ValueError(f'unknown field kinds {sorted(unknown)}; use {list(FIELD_KINDS)}')
        self.dst_path = dst_path
        self.fields = dict(fields)
        self.crs = crs
        self.layer = layer or osp.splitext(osp.basename(dst_path))[0]
        self.count = 0
        ext = '.gpkg' if self.driver == 'GPKG' else '.geojson'
        self.tmp: str | None = partial_path(dst_path, f'.partial{ext}')
        self._file = None
        try:
            if self.driver == 'GPKG':
                os.remove(self.tmp)  # GDAL creates the GeoPackage itself
                self._write_gpkg(np.zeros(0, dtype=object), {k: [] for k in self.fields}, False)
            else:
                self._file = open(self.tmp, 'w')
                header = dict(type='FeatureCollection', name=self.layer)
                crs_member = _crs_member(crs)
                if crs_member is not None:
                    header['crs'] = crs_member
                header['mmskysense'] = dict(
                    coordinates=coordinates_kind(crs),
                    crs_wkt=crs.to_wkt() if crs is not None else None,
                    **(metadata or {}),
                )
                self._file.write(json.dumps(header)[:-1] + ', "features": [\n')
        except BaseException:
            self.abort()
            raise

    def _write_gpkg(self, wkb: np.ndarray, columns: Mapping[str, Sequence], append: bool) -> None:
        from pyogrio.raw import write

        data = []
        for name, kind in self.fields.items():
            values = columns[name]
            if kind == 'json':
                values = [json.dumps(v) for v in values]
            data.append(np.asarray(values, dtype=FIELD_KINDS[kind]))
        write(
            self.tmp,
            wkb,
            data,
            fields=list(self.fields),
            crs=self.crs.to_wkt() if self.crs is not None else None,
            driver='GPKG',
            layer=self.layer,
            geometry_type='Polygon',
            append=append,
            # GeoPackage 1.2, not the wheel's GDAL's 1.4 default: older GDAL (3.6) and GIS
            # versions warn that they only partly support 1.4
            dataset_options=None if append else {'VERSION': '1.2'},
        )

    def write(self, geometries: Sequence[Any], columns: Mapping[str, Sequence]) -> None:
        """Append polygons (shapely, in map coordinates) and their attributes (``columns[name]``
        one value per polygon)."""
        import shapely

        n = len(geometries)
        if n == 0:
            return
        bad = [k for k in self.fields if len(columns[k]) != n]
        if bad:
            raise ValueError(f'{n} geometries but other counts of values for {bad}')
        if self.driver == 'GPKG':
            self._write_gpkg(shapely.to_wkb(np.asarray(geometries, dtype=object)), columns, True)
        else:
            for i, geom in enumerate(geometries):
                props = {}
                for name, kind in self.fields.items():
                    v = columns[name][i]
                    if kind == 'json':
                        props[name] = [float(x) for x in v]
                    elif kind == 'str':
                        props[name] = str(v)
                    else:
                        props[name] = int(v) if kind == 'int' else float(v)
                feature = dict(
                    type='Feature',
                    id=self.count + i,
                    geometry=shapely.geometry.mapping(geom),
                    properties=props,
                )
                self._file.write(('' if self.count + i == 0 else ',\n') + json.dumps(feature))
        self.count += n

    def commit(self) -> str:
        """Complete the file and rename it onto ``dst_path``; returns ``dst_path``."""
        try:
            if self._file is not None:
                self._file.write('\n]}\n')
                self._file.close()
                self._file = None
            publish(self.tmp, self.dst_path)
        except BaseException:
            self.abort()
            raise
        self.tmp = None
        return self.dst_path

    def abort(self) -> None:
        """Remove the temporary file; the destination is left untouched."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.tmp is not None:
            for path in _sidecars(self.tmp):
                if osp.exists(path):
                    os.remove(path)
            self.tmp = None
