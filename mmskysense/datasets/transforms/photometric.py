"""Photometric augmentations, drawn per modality (and per view), never touching nodata.

Unlike flips and rotations, radiometry differs between sensors, so each modality gets its own
draw: colour jitter for HR RGB (0..255), per-band gain/bias and noise for S2 reflectance and S1
backscatter (dB), drawn per date because illumination and atmosphere change between dates.
Invalid pixels stay 0 and stay invalid.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
from mmcv.transforms import BaseTransform

from mmskysense.registry import TRANSFORMS
from mmskysense.structures import GROUPS


def _check_groups(groups: Sequence[str]) -> tuple[str, ...]:
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise ValueError(f'view groups must be among {GROUPS}, got {sorted(unknown)}')
    return tuple(groups)


def _views(results: dict, groups: Sequence[str]):
    """The views of ``groups`` in a multi-crop result, one after the other."""
    for group in groups:
        yield from results['views'][group]


# RGB <-> YIQ (NTSC): Y is the luminance of the grayscale above, I and Q span the chroma plane
_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=np.float32
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ).astype(np.float32)


def _rotate_hue(img: np.ndarray, angle: float) -> np.ndarray:
    """Turn the hue of a ``3 x H x W`` RGB image by ``angle`` radians (luminance kept)."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=np.float32)
    m = _YIQ_TO_RGB @ rot @ _RGB_TO_YIQ
    return np.einsum('ij,jhw->ihw', m, img)


@TRANSFORMS.register_module()
class RandomHRColorJitter(BaseTransform):
    """Brightness, contrast, saturation, hue jitter and random grayscale of the HR RGB view.

    Args:
        brightness / contrast / saturation: factors drawn from ``[1 - x, 1 + x]``.
        hue: the hue turns by an angle drawn from ``[-hue, hue]`` full turns (torchvision's
            convention, at most 0.5), a rotation of the chroma plane (YIQ) that keeps luminance;
            0 (the default) leaves hue alone.
        prob: probability of jittering a view.
        grayscale_prob: probability of replacing a view by its luminance.
        groups: which view groups are augmented.
    """

    def __init__(
        self,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.2,
        prob: float = 0.8,
        grayscale_prob: float = 0.2,
        groups: Sequence[str] = GROUPS,
        hue: float = 0.0,
    ) -> None:
        if not 0.0 <= hue <= 0.5:
            raise ValueError(f'RandomHRColorJitter: `hue` must be in [0, 0.5], got {hue}')
        self.hue = hue
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.prob = prob
        self.grayscale_prob = grayscale_prob
        self.groups = _check_groups(groups)

    def _jitter(self, img: np.ndarray, valid: np.ndarray) -> np.ndarray:
        if not valid.any():
            return img
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)[:, None, None]
        if np.random.rand() < self.prob:
            order = np.random.permutation(4 if self.hue > 0 else 3)
            for op in order:
                if op == 0:
                    img = img * np.random.uniform(1 - self.brightness, 1 + self.brightness)
                elif op == 1:
                    # contrast around the mean of valid pixels only: nodata would pull it to 0
                    mean = float((img * weights).sum(0)[valid].mean())
                    factor = np.random.uniform(1 - self.contrast, 1 + self.contrast)
                    img = (img - mean) * factor + mean
                elif op == 2:
                    gray = (img * weights).sum(0, keepdims=True)
                    factor = np.random.uniform(1 - self.saturation, 1 + self.saturation)
                    img = (img - gray) * factor + gray
                else:
                    img = _rotate_hue(img, 2 * np.pi * np.random.uniform(-self.hue, self.hue))
        if np.random.rand() < self.grayscale_prob:
            img = np.repeat((img * weights).sum(0, keepdims=True), 3, axis=0)
        img = np.clip(img, 0, 255).astype(np.float32)
        img[:, ~valid] = 0
        return img

    def transform(self, results: dict) -> dict:
        for view in _views(results, self.groups):
            images = view['images']
            images['hr'] = self._jitter(images['hr'], view['valid_masks']['hr'])
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(brightness={self.brightness}, '
            f'contrast={self.contrast}, saturation={self.saturation}, prob={self.prob}, '
            f'grayscale_prob={self.grayscale_prob}, groups={self.groups}, hue={self.hue})'
        )


@TRANSFORMS.register_module()
class RandomSpectralJitter(BaseTransform):
    """Per-date, per-band gain and bias plus pixel noise for a time series modality.

    ``x' = x * gain + bias + noise`` with ``gain ~ N(1, gain_std)``, ``bias ~ N(0, bias_std)``
    per (view, date, band) and ``noise ~ N(0, noise_std)`` per pixel, in the modality's scaled
    units (S2 reflectance, S1 dB).

    Args:
        modality: ``'s2'`` or ``'s1'`` (any time-series key of the views).
        prob: probability of jittering a view.
        clip: optional ``(low, high)`` of the physical range (reflectance stays >= 0).
    """

    def __init__(
        self,
        modality: str,
        gain_std: float = 0.05,
        bias_std: float = 0.0,
        noise_std: float = 0.0,
        prob: float = 0.8,
        clip: Any = None,
        groups: Sequence[str] = GROUPS,
    ) -> None:
        self.modality = modality
        self.gain_std = gain_std
        self.bias_std = bias_std
        self.noise_std = noise_std
        self.prob = prob
        self.clip = tuple(clip) if clip is not None else None
        self.groups = _check_groups(groups)

    def _jitter(self, view: dict[str, Any]) -> None:
        data, valid = view['images'][self.modality], view['valid_masks'][self.modality]
        if np.random.rand() >= self.prob:
            return
        t, c = data.shape[:2]
        gain = np.random.normal(1.0, self.gain_std, size=(t, c, 1, 1)).astype(np.float32)
        bias = np.random.normal(0.0, self.bias_std, size=(t, c, 1, 1)).astype(np.float32)
        out = data * gain + bias
        if self.noise_std > 0:
            out += np.random.normal(0.0, self.noise_std, size=out.shape).astype(np.float32)
        if self.clip is not None:
            out = np.clip(out, *self.clip)
        out[~np.broadcast_to(valid[:, None], out.shape)] = 0
        view['images'][self.modality] = out.astype(np.float32)

    def transform(self, results: dict) -> dict:
        for view in _views(results, self.groups):
            if self.modality not in view['images']:
                raise KeyError(
                    f'RandomSpectralJitter: views have no {self.modality!r}; they hold '
                    f'{list(view["images"])} (GeoMultiCrop(modalities=...) reads them)'
                )
            self._jitter(view)
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(modality={self.modality!r}, '
            f'gain_std={self.gain_std}, bias_std={self.bias_std}, '
            f'noise_std={self.noise_std}, prob={self.prob}, clip={self.clip})'
        )


@TRANSFORMS.register_module()
class RandomHRChannelShuffle(BaseTransform):
    """Random order of the HR view's bands, and a random inversion (``255 - x``) of each.

    Stronger than colour jitter: brightness, contrast, saturation and hue jitter keep the
    luminance of each surface, so two views of one scene still match by their colours alone
    and a teacher-student objective can be met without seeing structure. Shuffling and
    inverting the bands leaves only the spatial pattern shared between two views. It also
    removes the colour cue itself: keep ``prob`` moderate where colour tells the classes apart.

    Args:
        prob: probability of shuffling a view's bands.
        invert_prob: probability of inverting each band of a shuffled view.
        groups: which view groups are augmented.
    """

    def __init__(
        self, prob: float = 0.5, invert_prob: float = 0.5, groups: Sequence[str] = GROUPS
    ) -> None:
        for name, p in (('prob', prob), ('invert_prob', invert_prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f'RandomHRChannelShuffle: `{name}` must be in [0, 1], got {p}')
        self.prob = prob
        self.invert_prob = invert_prob
        self.groups = _check_groups(groups)

    def _shuffle(self, img: np.ndarray, valid: np.ndarray) -> np.ndarray:
        if np.random.rand() >= self.prob:
            return img
        img = img[np.random.permutation(img.shape[0])]
        invert = np.random.rand(img.shape[0]) < self.invert_prob
        img = np.where(invert[:, None, None], 255.0 - img, img).astype(np.float32)
        img[:, ~valid] = 0  # nodata stays 0 (an inverted band would make it 255)
        return img

    def transform(self, results: dict) -> dict:
        for view in _views(results, self.groups):
            images = view['images']
            images['hr'] = self._shuffle(images['hr'], view['valid_masks']['hr'])
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(prob={self.prob}, invert_prob={self.invert_prob}, '
            f'groups={self.groups})'
        )
