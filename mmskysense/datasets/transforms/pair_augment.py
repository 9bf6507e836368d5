"""Augmentations of a date-major stacked image pair that must NOT be shared by the two dates.

Geometry is shared: mmcv/mmseg's flips, crops and rotations act on the stacked image, so both
dates (and the label) move together. Radiometry is not: the two acquisitions differ in sun,
atmosphere and sensor state, so photometric jitter is drawn per date here, for any number of
bands. ``RandomDateExchange`` swaps the dates, which teaches a binary change detector that
"changed" does not depend on the order of the two images.
"""

import numpy as np
from mmcv.transforms import BaseTransform

from mmskysense.registry import TRANSFORMS


def _dates(results: dict) -> tuple[np.ndarray, int]:
    img = results['img']
    num_dates = int(results.get('num_dates', 2))
    if img.shape[-1] % num_dates:
        raise ValueError(
            f'{results.get("img_path")}: {img.shape[-1]} channels are not '
            f'{num_dates} dates of equal band count'
        )
    return img, img.shape[-1] // num_dates


@TRANSFORMS.register_module()
class PairPhotometricJitter(BaseTransform):
    """Brightness, contrast and per-band gain jitter drawn independently for each date.

    For each date, with probability ``prob``: ``x' = (x - m) * contrast + m * brightness`` per
    band, times a per-band gain, where ``m`` is the date's mean over all its bands, contrast and
    brightness are drawn from ``[1 - x, 1 + x]`` and the gains from ``N(1, band_gain_std)``.
    Values are clipped to ``clip`` (e.g. ``(0, 255)`` for 8-bit RGB); the result is float32.

    Args:
        brightness, contrast: jitter half-ranges.
        band_gain_std: standard deviation of the per-band gain (0: all bands alike, as for RGB).
        prob: probability of jittering a date.
        clip: ``(low, high)`` of valid values, or None.
    """

    def __init__(
        self,
        brightness: float = 0.1,
        contrast: float = 0.1,
        band_gain_std: float = 0.0,
        prob: float = 0.5,
        clip: tuple[float, float] | None = (0.0, 255.0),
    ) -> None:
        self.brightness = brightness
        self.contrast = contrast
        self.band_gain_std = band_gain_std
        self.prob = prob
        self.clip = tuple(clip) if clip is not None else None

    def transform(self, results: dict) -> dict:
        img, bands = _dates(results)
        img = img.astype(np.float32, copy=True)
        for start in range(0, img.shape[-1], bands):
            if np.random.rand() >= self.prob:
                continue
            date = img[..., start : start + bands]
            mean = float(date.mean())
            contrast = np.random.uniform(1 - self.contrast, 1 + self.contrast)
            brightness = np.random.uniform(1 - self.brightness, 1 + self.brightness)
            gains = (
                np.random.normal(1.0, self.band_gain_std, bands)
                if self.band_gain_std
                else np.ones(bands)
            )
            date = ((date - mean) * contrast + mean * brightness) * gains.astype(np.float32)
            if self.clip is not None:
                date = np.clip(date, *self.clip)
            img[..., start : start + bands] = date
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(brightness={self.brightness}, '
            f'contrast={self.contrast}, band_gain_std={self.band_gain_std}, '
            f'prob={self.prob}, clip={self.clip})'
        )


@TRANSFORMS.register_module()
class RandomDateExchange(BaseTransform):
    """Swap the two dates of a stacked pair with probability ``prob``.

    Only meaningful for binary (undirected) change; ``results['date_exchanged']`` records it.
    """

    def __init__(self, prob: float = 0.5) -> None:
        self.prob = prob

    def transform(self, results: dict) -> dict:
        img, bands = _dates(results)
        if int(results.get('num_dates', 2)) != 2:
            raise ValueError('RandomDateExchange swaps exactly two dates')
        swap = bool(np.random.rand() < self.prob)
        if swap:
            results['img'] = np.concatenate([img[..., bands:], img[..., :bands]], axis=-1)
            if 'img_paths' in results:
                results['img_paths'] = list(results['img_paths'])[::-1]
        results['date_exchanged'] = swap
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'
