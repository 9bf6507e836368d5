"""The one error family of the raster package and the sample index.

``GeoSampleError`` (a ``ValueError``): a file that cannot be opened or read as expected, or an
index entry that breaks the documented format (docs/data_format.md). The message starts with the
file (or the index field) and says what was expected; ``.path`` holds the file.
``GeoMultiModalDataset(on_bad_sample='skip')`` and the scene tools catch exactly this type.
``RasterError`` is the same class under its older name (kept for compatibility).
"""


class GeoSampleError(ValueError):
    """A raster or sample that cannot be used as documented; the message names the file.

    Args:
        message: what is wrong and what was expected.
        path: the offending file, when there is one (it is also in ``message``).
        sample_id: the index entry the file belongs to, when known (prefixes the message).
    """

    def __init__(self, message: str, path: str | None = None, sample_id: str | None = None) -> None:
        prefix = f'sample {sample_id!r}: ' if sample_id is not None else ''
        super().__init__(prefix + message)
        self.path = path
        self.sample_id = sample_id


#: the older name of ``GeoSampleError`` (one class, not a second family)
RasterError = GeoSampleError


class MissingRasterError(GeoSampleError, FileNotFoundError):
    """The raster file does not exist."""
