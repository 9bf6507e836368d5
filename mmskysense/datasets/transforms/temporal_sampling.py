"""Temporal sampling: K of the T dates of each time series (paper 4.1: 10 S2 and 5 S1).

The chosen frames stay in time order; when a series has fewer than K dates, all are kept and the
rest is padding (``date_masks`` False, day-of-year 0), so the batch keeps a fixed shape. A
sample without the series gets K padded dates (docs/data_format.md, "Samples without a
modality").
"""

import numpy as np
from mmcv.transforms import BaseTransform

from mmskysense.registry import TRANSFORMS
from mmskysense.structures.modalities import modality, select_dates, series_names


@TRANSFORMS.register_module()
class SampleTemporalFrames(BaseTransform):
    """Pick K frames per time series.

    Required keys: ``s2``, ``s1`` (frame lists of the index, sorted by date).
    Added keys: ``frames`` (dict name -> list of K frames or None for padding), ``doy``
    (dict name -> int64[K], 0 for padding), ``date_masks`` (dict name -> bool[K]).

    Args:
        num_frames: K per series (default: the modality table's ``frames`` of each series).
        mode: ``'random'`` draws K distinct dates (training); ``'uniform'`` takes K evenly
            spaced dates, deterministic (evaluation, demos).
    """

    def __init__(self, num_frames: dict[str, int] | None = None, mode: str = 'random') -> None:
        if num_frames is None:
            num_frames = {m: modality(m).frames for m in series_names()}
        self.num_frames = dict(num_frames)
        for name, k in self.num_frames.items():
            if not isinstance(k, int) or k < 1:
                raise ValueError(f'num_frames[{name!r}] must be a positive int, got {k!r}')
        if mode not in ('random', 'uniform'):
            raise ValueError(f"mode must be 'random' or 'uniform', got {mode!r}")
        self.mode = mode

    def transform(self, results: dict) -> dict:
        frames_out, doy_out, mask_out = {}, {}, {}
        for name, k in self.num_frames.items():
            frames = results.get(name) or []
            # a sample without this series: every date is padding; the crop masks the
            # modality or refuses the sample (GeoMultiCrop(missing_modality=...))
            chosen = select_dates(len(frames), k, 'random' if self.mode == 'random' else 'even')
            picked = [frames[i] for i in chosen]
            doy = np.zeros(k, dtype=np.int64)
            doy[: len(picked)] = [f['doy'] for f in picked]
            mask = np.zeros(k, dtype=bool)
            mask[: len(picked)] = True
            frames_out[name] = picked + [None] * (k - len(picked))
            doy_out[name] = doy
            mask_out[name] = mask
        results['frames'] = frames_out
        results['doy'] = doy_out
        results['date_masks'] = mask_out
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_frames={self.num_frames}, mode={self.mode!r})'
