"""The one exception type for a sample that cannot be loaded as documented (docs/data_format.md).

Every message names the file (or the index field) and says what was expected, so that a user can
fix the data; ``GeoMultiModalDataset(on_bad_sample='skip')`` catches exactly this type.
"""


class GeoSampleError(RuntimeError):
    """A sample's GeoTIFFs or index entry break the documented format.

    Args:
        message: what is wrong and what was expected.
        path: the offending file, when there is one (it is also in ``message``).
        sample_id: the index entry the file belongs to, when known.
    """

    def __init__(self, message: str, path: str | None = None, sample_id: str | None = None) -> None:
        prefix = f'sample {sample_id!r}: ' if sample_id is not None else ''
        super().__init__(prefix + message)
        self.path = path
        self.sample_id = sample_id
