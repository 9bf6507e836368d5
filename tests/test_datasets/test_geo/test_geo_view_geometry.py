"""View geometry helpers: ground <-> view pixels under flips and rotations, correspondences."""

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from mmskysense.datasets.transforms.geo_flip_rotate import apply_geo_ops
from mmskysense.structures import (
    SkySenseDataSample,
    ground_to_view_pixels,
    view_correspondence_grid,
    view_pixels_to_ground,
)

ALL_OPS = list(itertools.product((0, 1), (0, 1), range(4)))


def test_ground_to_view_matches_pixel_ops():
    """The predicted pixel of a ground point holds that point after rot90(flip(crop), k)."""
    h, w = 6, 10  # non-square so that a wrong width/height swap shows
    box = (100.0, 200.0, 150.0, 230.0)  # 5 m x 5 m pixels
    crop = np.arange(h * w).reshape(h, w)
    for r, c in [(0, 0), (2, 7), (5, 9), (3, 1)]:
        ground = torch.tensor(
            [[box[0] + (c + 0.5) * 5.0, box[3] - (r + 0.5) * 5.0]], dtype=torch.float64
        )
        for ops in ALL_OPS:
            view = apply_geo_ops(crop, *ops)
            col, row = ground_to_view_pixels(ground, box, ops, (h, w))[0].tolist()
            assert view[int(np.floor(row)), int(np.floor(col))] == crop[r, c], ops
            back = view_pixels_to_ground(
                torch.tensor([[col, row]], dtype=torch.float64), box, ops, (h, w)
            )
            assert torch.allclose(back, ground), ops


def test_apply_geo_ops_matches_torch_rot90():
    x = np.random.rand(2, 5, 7).astype(np.float32)
    for hflip, vflip, k in ALL_OPS:
        ref = torch.from_numpy(x)
        if hflip:
            ref = ref.flip(-1)
        if vflip:
            ref = ref.flip(-2)
        ref = torch.rot90(ref, k, dims=(-2, -1))
        assert torch.equal(torch.from_numpy(apply_geo_ops(x, hflip, vflip, k)), ref)


def test_correspondence_grid_resamples_same_ground():
    """A ground-coordinate image viewed through two views: grid_sample of view B onto view A
    gives A's own ground coordinates where they overlap."""

    def render(box, ops, size):
        rows, cols = torch.meshgrid(
            torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing='ij'
        )
        x = box[0] + cols / size * (box[2] - box[0])
        y = box[3] - rows / size * (box[3] - box[1])
        return torch.from_numpy(apply_geo_ops(torch.stack([x, y]).numpy(), *ops))

    box_a, box_b = (0.0, 0.0, 64.0, 64.0), (16.0, 8.0, 80.0, 72.0)
    for ops_a, ops_b in [((0, 0, 0), (1, 0, 3)), ((1, 1, 1), (0, 1, 2)), ((0, 1, 3), (1, 1, 1))]:
        img_a, img_b = render(box_a, ops_a, 32), render(box_b, ops_b, 64)
        grid, inside = view_correspondence_grid(box_a, ops_a, (32, 32), box_b, ops_b, (64, 64))
        warped = F.grid_sample(
            img_b[None].double(), grid[None].double(), mode='bilinear', align_corners=False
        )[0]
        # bilinear interpolation of a linear ramp is exact away from B's border
        core = inside & (grid.abs() < 0.95).all(-1)
        assert core.sum() > 100
        assert torch.allclose(warped[:, core], img_a[:, core].double(), atol=1e-6)
        # ground outside B is flagged
        assert not inside.all()


def test_data_sample_moves_nested_tensors():
    sample = SkySenseDataSample(metainfo=dict(sample_idx=3, crs='WKT'))
    sample.valid_masks = dict(global_views=dict(hr=torch.ones(2, 4, 4, dtype=torch.bool)))
    sample.doy = dict(s2=torch.arange(3))
    sample.region_id = 7
    moved = sample.to(torch.float64)  # dtype move: exercises the nested walk without a GPU
    assert moved.doy['s2'].dtype == torch.float64
    assert moved.valid_masks['global_views']['hr'].dtype == torch.float64
    assert moved.region_id == 7 and moved.sample_idx == 3
    assert set(sample.keys()) == {'valid_masks', 'doy', 'region_id'}
    try:
        sample.region_id = 'x'
    except TypeError as err:
        assert 'region_id' in str(err)
    else:
        raise AssertionError('a non-int region_id was accepted')
