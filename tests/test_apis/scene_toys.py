"""Small scenes and models for the large-scene tests. Not a test module; tests load it by path
(pytest runs with ``--import-mode=importlib``).

``ToyMultiModalSegmentor`` follows the multi-modal model contract of docs/interfaces.md (a dict
of modalities through its data preprocessor, ``encode_decode(inputs, metas)``, the core
backbone's dict-in/dict-out forward), standing in for the multi-modal segmentors of the paper's
Table 3 (issue 14).
"""

import numpy as np
import torch
import torch.nn.functional as F
from helpers.geotiff import write_geotiff
from helpers.modules import REPO
from torch import nn

from mmskysense.registry import MODELS

CRS = 'EPSG:32633'
DEMO_CONFIG = REPO / 'configs/demo/upernet_skysense-v2-tiny_1xb4-300it_geo-demo-128x128.py'
X0, Y0 = 400_000.0, 5_000_000.0  # the scenes' north-west corner


def write_raster(path, data, res, origin=(X0, Y0), nodata=None, tags=None, crs=CRS):
    """A GeoTIFF of ``data`` (``C x H x W``) with square pixels of ``res`` metres."""
    _, h, w = data.shape
    tiled = dict(block=256, compress='deflate') if h >= 256 and w >= 256 else {}
    return write_geotiff(path, data, res, origin, crs, nodata=nodata, tags=tags, **tiled)


def save_checkpoint(model, path, classes, palette=None) -> str:
    """``model``'s weights with ``dataset_meta`` (classes, palette) as a checkpoint file."""
    meta = dict(classes=list(classes))
    if palette:
        meta['palette'] = palette
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=meta)), path)
    return str(path)


def demo_checkpoint(path) -> str:
    """The demo's UperNet (tiny backbone, random weights), as a checkpoint with its classes."""
    from mmengine.config import Config

    from mmskysense.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(str(DEMO_CONFIG))
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    return save_checkpoint(MODELS.build(cfg.model), path, cfg.class_names, cfg.palette)


def hr_scene(path, size=256, res=0.5, hole=True, seed=0):
    """An RGB scene (uint8, nodata 0) with a hole of no data in its north-west corner."""
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 255, (3, size, size), dtype=np.uint8)
    if hole:
        data[:, : size // 8, : size // 8] = 0
    return write_raster(path, data, res, nodata=0)


class _ToyPreprocessor(nn.Module):
    """Normalises each modality (stored values -> about unit scale), dict in, dict out."""

    SCALE = dict(hr=(120.0, 60.0), s2=(1500.0, 1000.0), s1=(-15.0, 5.0))

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = {}
        for name, x in data['inputs'].items():
            mean, std = self.SCALE[name]
            inputs[name] = (x.float() - mean) / std
        return dict(inputs=inputs, data_samples=data['data_samples'])


@MODELS.register_module(force=True)
class ToyMultiModalSegmentor(nn.Module):
    """HR + S2 series + S1 series through the core backbone (tiny), each stage-1 map brought to
    the HR tile, dates averaged over the real ones, concatenated, a 1 x 1 classifier."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.data_preprocessor = _ToyPreprocessor()
        self.backbone = MODELS.build(
            dict(type='SkySenseV2Backbone', arch='tiny', out_indices=(0,), use_moe=False)
        )
        self.head = nn.Conv2d(3 * 32, num_classes, 1)

    def encode_decode(self, inputs: dict, metas: list) -> torch.Tensor:
        h, w = metas[0]['img_shape']
        masks = {k: torch.stack([m['date_masks'][k] for m in metas]) for k in ('s2', 's1')}
        feats = self.backbone(inputs, masks)
        maps = [F.interpolate(feats['hr'][0], size=(h, w), mode='bilinear')]
        for name in ('s2', 's1'):
            x = feats[name][0]  # B x T x C x h' x w'
            m = masks[name].float()[:, :, None, None, None]
            mean = (x * m).sum(1) / m.sum(1).clamp_min(1)
            maps.append(F.interpolate(mean, size=(h, w), mode='bilinear'))
        return self.head(torch.cat(maps, 1))
