"""Multi-crop of a plain image (no georeference): the HR views of ``GeoMultiCrop``, with the
image's pixel grid standing in for the ground.

A pixel ``(row, col)`` is the ground point ``x = col, y = -row`` (north up, one unit per
pixel), so a view's ``box`` means what it means for a geo view and ``token_correspondence``
pairs the tokens of two views of the same image exactly as it pairs geo views.
"""

import cv2
import numpy as np

from mmskysense.registry import TRANSFORMS

from ..raster import GeoSampleError
from .geo_multi_crop import GeoMultiCrop, sample_ground_box


def read_rgb(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``H x W x 3`` uint8 RGB and its ``H x W`` validity (an RGBA image's alpha > 0; all True
    otherwise). Anything else (gray, 2 or 5+ bands, 16-bit) is refused with the file named."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)  # None for a missing or undecodable file
    if img is None:
        raise GeoSampleError(f'{path}: missing or not decodable as an image', path=path)
    if img.dtype != np.uint8:
        raise GeoSampleError(
            f'{path}: {img.dtype} pixels; an image-folder source takes 8-bit RGB chips '
            '(write other data as GeoTIFF samples, docs/data_format.md)',
            path=path,
        )
    if img.ndim == 3 and img.shape[2] == 4:  # OpenCV decodes BGRA
        return np.ascontiguousarray(img[..., 2::-1]), img[..., 3] > 0
    if img.ndim != 3 or img.shape[2] != 3:
        shape = img.shape if img.ndim == 3 else img.shape + (1,)
        raise GeoSampleError(
            f'{path}: {shape[2]} band(s); the HR path takes RGB (3 bands, or RGBA with alpha '
            'as the validity mask)',
            path=path,
        )
    return np.ascontiguousarray(img[..., ::-1]), np.ones(img.shape[:2], dtype=bool)


def _resize(a: np.ndarray, size: int, interpolation: int) -> np.ndarray:
    return cv2.resize(a, (size, size), interpolation=interpolation)


@TRANSFORMS.register_module()
class ImageMultiCrop(GeoMultiCrop):
    """Global and local views of a plain RGB image, in ``GeoMultiCrop``'s view records.

    Required keys: ``img_path`` (``ImageFolderPretrainDataset``). Added: ``views`` (view
    records: ``images`` and ``valid_masks`` with ``hr`` alone, float32[3, H, W] in 0..255,
    ``view_boxes``, ``view_geo_ops``), and the sample fields ``PackSkySenseInputs`` reads: no
    dates, ``region_id`` (0 unless set).
    Shrunk crops are resampled by area averaging, enlarged ones bilinearly; the arguments are
    ``GeoMultiCrop``'s view arguments (``num_global``, ``num_local``, sizes, scales, ratio;
    only the HR size is used).
    """

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        img, valid = read_rgb(path)
        h, w = valid.shape
        region = (0.0, -float(h), float(w), 0.0)
        views = []
        for group, v, scale, sizes in self.view_plan():
            size = sizes['hr']
            for _ in range(self.max_crop_tries):
                box = sample_ground_box(region, scale, self.ratio, (0.0, 0.0), (1.0, 1.0))
                c0, c1 = int(round(box[0])), int(round(box[2]))
                r0, r1 = int(round(-box[3])), int(round(-box[1]))
                ok = valid[r0:r1, c0:c1]
                if ok.any():
                    break
            else:
                raise GeoSampleError(
                    f'{path}: every one of {self.max_crop_tries} random crops for {group} {v} '
                    'is fully transparent (alpha 0)',
                    path=path,
                )
            crop = img[r0:r1, c0:c1]
            shrink = size < min(crop.shape[:2])
            hr = _resize(crop, size, cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
            hr_valid = _resize(ok.astype(np.uint8), size, cv2.INTER_NEAREST).astype(bool)
            hr = hr.transpose(2, 0, 1).astype(np.float32) * hr_valid
            views.append(
                dict(
                    images=dict(hr=hr),
                    valid_masks=dict(hr=hr_valid),
                    view_boxes=np.asarray(box, dtype=np.float64),
                    view_geo_ops=np.zeros(3, dtype=np.int64),
                )
            )
        results['views'] = dict(
            global_views=views[: self.num_global], local_views=views[self.num_global :]
        )
        results.setdefault('region_id', 0)
        results['date_masks'], results['doy'] = {}, {}
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(num_global={self.num_global}, num_local='
            f'{self.num_local}, global_size={self.global_size["hr"]}, local_size='
            f'{self.local_size["hr"]}, global_scale={self.global_scale}, '
            f'local_scale={self.local_scale})'
        )
