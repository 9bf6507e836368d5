"""GeoMultiModalDataset: pretraining samples of geo-aligned HR, S2 and S1 GeoTIFFs.

The dataset only reads the index (docs/data_format.md); pixels are read by the pipeline
(``GeoMultiCrop``) once the views' ground boxes are chosen, so a crop never reads more of a
raster than it needs. The bad-sample policy lives here because only the dataset can pick
another sample.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

from mmskysense.registry import DATASETS

from ..raster import GeoSampleError
from .index import load_geo_index


@DATASETS.register_module()
class GeoMultiModalDataset(BaseDataset):
    """Multi-modal geo-aligned pretraining dataset (SkySense V2, section 4.1).

    Args:
        ann_file: the index JSON (built by tools/dataset_converters/build_geo_index.py).
        pipeline: transforms, typically SampleTemporalFrames -> GeoMultiCrop ->
            GeoRandomFlipRotate -> photometric augmentations -> PackSkySenseInputs.
        data_root: folder that relative paths in the index are relative to (default: the
            index file's folder).
        on_bad_sample: ``'raise'`` (default): a GeoSampleError stops loading with a message that
            names the file and the problem. ``'skip'``: the sample is logged, counted
            (``num_skipped``) and another one is returned instead.
        max_refetch: with ``'skip'``, how many bad samples in a row before giving up.
        **kwargs: passed to ``mmengine.dataset.BaseDataset``.
    """

    def __init__(
        self,
        ann_file: str,
        pipeline: Sequence[dict | Any] = (),
        data_root: str | None = None,
        on_bad_sample: str = 'raise',
        max_refetch: int = 100,
        **kwargs: Any,
    ) -> None:
        if on_bad_sample not in ('raise', 'skip'):
            raise ValueError(f"on_bad_sample must be 'raise' or 'skip', got {on_bad_sample!r}")
        self.on_bad_sample = on_bad_sample
        self._geo_root = data_root
        self.num_skipped = 0
        self.skipped_samples: list[str] = []
        super().__init__(
            ann_file=ann_file,
            data_root=data_root or '',
            pipeline=list(pipeline),
            max_refetch=max_refetch,
            **kwargs,
        )

    def load_data_list(self) -> list[dict]:
        """Parse the index; relative file paths resolve against ``data_root`` or its folder."""
        return load_geo_index(self.ann_file, self._geo_root)

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info['sample_idx'] = idx
        return info

    def __getitem__(self, idx: int) -> dict:
        if not self._fully_initialized:
            self.full_init()
        current = idx
        for _ in range(self.max_refetch + 1):
            try:
                data = self.prepare_data(current)
            except GeoSampleError as err:
                if self.on_bad_sample == 'raise':
                    raise
                self.num_skipped += 1
                self.skipped_samples.append(str(err))
                MMLogger.get_current_instance().warning(
                    f'GeoMultiModalDataset: skipped sample {current}: {err} '
                    f'({self.num_skipped} skipped so far in this process)'
                )
                # test mode stays deterministic: the next sample rather than a random one
                current = (
                    (current + 1) % len(self)
                    if self.test_mode
                    else int(np.random.randint(0, len(self)))
                )
                continue
            if data is None:
                raise GeoSampleError(
                    f'the pipeline returned None for sample {current}; every '
                    f'transform of this dataset must return a result'
                )
            return data
        raise GeoSampleError(
            f'{self.max_refetch + 1} bad samples in a row starting at index '
            f'{idx}; the last error: {self.skipped_samples[-1]}'
        )

    def sample_summary(self) -> dict[str, Any]:
        """How many samples the index holds and how many were skipped in this process."""
        return dict(num_samples=len(self), num_skipped=self.num_skipped)
