"""Token correspondence between two geo-aligned views (MGCL's pixel level, paper section 3.2).

Each view is ``rot90(flip(crop), k)`` of a north-up crop whose ground box is
``(minx, miny, maxx, maxy)`` (docs/interfaces.md). For each token of a source view this finds the
token of a destination view that covers the centre of the same ground, inverting the flips and
quarter turns of both views.
"""

from functools import lru_cache

import torch
from torch import Tensor


@lru_cache(maxsize=256)
def _view_to_crop(
    hflip: int, vflip: int, k: int, h_view: int, w_view: int
) -> tuple[Tensor, Tensor]:
    """Crop-grid (row, col) held by each position of a view grid ``h_view x w_view``."""
    k = k % 4
    hc, wc = (w_view, h_view) if k % 2 else (h_view, w_view)
    rows = torch.arange(hc)[:, None].expand(hc, wc)
    cols = torch.arange(wc)[None, :].expand(hc, wc)
    coords = torch.stack([rows, cols])  # 2 x hc x wc, transformed exactly like the pixels
    if hflip:
        coords = coords.flip(-1)
    if vflip:
        coords = coords.flip(-2)
    coords = torch.rot90(coords, k, dims=(-2, -1))
    return coords[0].reshape(-1).clone(), coords[1].reshape(-1).clone()


def _check(name: str, x: Tensor, last: int) -> None:
    if x.dim() != 2 or x.shape[1] != last:
        raise ValueError(f'token_correspondence: `{name}` must be B x {last}, got {tuple(x.shape)}')


def token_correspondence(
    src_boxes: Tensor,
    src_ops: Tensor,
    src_grid: tuple[int, int],
    dst_boxes: Tensor,
    dst_ops: Tensor,
    dst_grid: tuple[int, int],
) -> Tensor:
    """For each source-view token, the flat index of the destination-view token over the same
    ground, or -1 when that ground is outside the destination view.

    Args:
        src_boxes, dst_boxes: ``B x 4`` ground boxes ``(minx, miny, maxx, maxy)`` (view_boxes).
        src_ops, dst_ops: ``B x 3`` ``(hflip, vflip, k)`` (view_geo_ops).
        src_grid, dst_grid: ``(h, w)`` token grids of the views as they are (after the ops).

    Returns:
        ``B x (h_src * w_src)`` long.
    """
    for name, x, last in (
        ('src_boxes', src_boxes, 4),
        ('dst_boxes', dst_boxes, 4),
        ('src_ops', src_ops, 3),
        ('dst_ops', dst_ops, 3),
    ):
        _check(name, x, last)
    device = src_boxes.device
    b = src_boxes.shape[0]
    out = []
    for i in range(b):
        sh, sv, sk = (int(v) for v in src_ops[i].tolist())
        dh, dv, dk = (int(v) for v in dst_ops[i].tolist())
        sr, sc = _view_to_crop(sh, sv, sk, *src_grid)
        hc_s, wc_s = (src_grid[1], src_grid[0]) if sk % 2 else src_grid
        hc_d, wc_d = (dst_grid[1], dst_grid[0]) if dk % 2 else dst_grid
        sminx, sminy, smaxx, smaxy = src_boxes[i].double().tolist()
        dminx, dminy, dmaxx, dmaxy = dst_boxes[i].double().tolist()
        if smaxx <= sminx or smaxy <= sminy or dmaxx <= dminx or dmaxy <= dminy:
            raise ValueError(
                f'token_correspondence: empty view box in sample {i}: '
                f'{src_boxes[i].tolist()} / {dst_boxes[i].tolist()}'
            )
        # ground position of each source token centre (rows run north to south)
        x = sminx + (sc.double() + 0.5) / wc_s * (smaxx - sminx)
        y = smaxy - (sr.double() + 0.5) / hc_s * (smaxy - sminy)
        dc = torch.floor((x - dminx) / (dmaxx - dminx) * wc_d).long()
        dr = torch.floor((dmaxy - y) / (dmaxy - dminy) * hc_d).long()
        inside = (dc >= 0) & (dc < wc_d) & (dr >= 0) & (dr < hc_d)
        # crop position -> destination view position (inverse of that view's ops)
        vr, vc = _view_to_crop(dh, dv, dk, *dst_grid)
        inverse = torch.empty(hc_d * wc_d, dtype=torch.long)
        inverse[vr * wc_d + vc] = torch.arange(hc_d * wc_d)
        idx = inverse[(dr.clamp(0, hc_d - 1) * wc_d + dc.clamp(0, wc_d - 1))]
        out.append(torch.where(inside, idx, torch.full_like(idx, -1)))
    return torch.stack(out).to(device)
