"""Per-modality scaling from the stored numbers to physical units (docs/data_format.md).

* HR optical: 8-bit RGB digital numbers, kept as 0..255 (``scale=1``); the data preprocessor
  normalises with ImageNet-like statistics.
* Sentinel-2 L2A: surface reflectance stored as ``DN = reflectance * 10000`` (uint16), so
  ``scale=1e-4``; processing baseline 04.00+ products add 1000, set ``offset=-0.1`` for them.
* Sentinel-1 GRD: backscatter sigma0 in dB (float32, ``scale=1``); products in linear power
  set ``linear_to_db=True`` and are converted with ``10 * log10(max(x, 1e-10))``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmskysense.structures.modalities import modality, modality_names


@dataclass(frozen=True)
class ModalityScaling:
    """``value = stored * scale + offset`` (then dB conversion when ``linear_to_db``)."""

    scale: float = 1.0
    offset: float = 0.0
    linear_to_db: bool = False

    def apply(self, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Scale ``data`` (``C x H x W``) into float32; pixels where ``valid`` is False become 0."""
        out = data.astype(np.float32, copy=True)
        if self.scale != 1.0:
            out *= np.float32(self.scale)
        if self.offset != 0.0:
            out += np.float32(self.offset)
        if self.linear_to_db:
            # zero/negative power is physically impossible but appears after calibration noise
            np.maximum(out, np.float32(1e-10), out=out)
            np.log10(out, out=out)
            out *= np.float32(10.0)
        # copyto, not multiplication: NaN * 0 is NaN
        np.copyto(out, np.float32(0), where=~valid[None])
        return out


def build_scaling(
    cfg: Mapping[str, ModalityScaling | Mapping[str, Any]] | None = None,
) -> dict[str, ModalityScaling]:
    """The modality table's scalings, overridden per modality by ``cfg`` (dicts of
    ModalityScaling fields)."""
    scaling = {m: ModalityScaling(**modality(m).scaling) for m in modality_names()}
    for name, value in (cfg or {}).items():
        if isinstance(value, ModalityScaling):
            scaling[name] = value
        elif isinstance(value, Mapping):
            unknown = set(value) - {'scale', 'offset', 'linear_to_db'}
            if unknown:
                raise ValueError(
                    f'scaling[{name!r}]: unknown keys {sorted(unknown)}; expected '
                    f'scale, offset, linear_to_db'
                )
            scaling[name] = ModalityScaling(**value)
        else:
            raise TypeError(f'scaling[{name!r}]: expected a dict, got {type(value).__name__}')
    return scaling
