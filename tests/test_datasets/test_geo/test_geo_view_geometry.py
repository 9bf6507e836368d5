"""The view geometry (``mmskysense.structures.view_geometry``): array ops, point maps and the token
correspondence agree with each other and with independent references."""

import itertools

import numpy as np
import pytest
import torch

from mmskysense.structures import (
    PretrainSample,
    ViewGroup,
    apply_geo_ops,
    ground_to_view_pixels,
    token_correspondence,
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
        assert torch.equal(apply_geo_ops(torch.from_numpy(x), hflip, vflip, k), ref)


def test_point_maps_are_batched_per_view():
    """One call maps points of views with different ops and boxes, as a loop over views does."""
    boxes = torch.tensor([[100.0, 200.0, 150.0, 230.0]] * len(ALL_OPS), dtype=torch.float64)
    boxes[:, ::2] += torch.arange(len(ALL_OPS))[:, None] * 3.0
    ops = torch.tensor(ALL_OPS)
    ground = torch.stack([torch.linspace(101, 149, 7), torch.linspace(201, 229, 7)], -1)
    batched = ground_to_view_pixels(ground.expand(len(ALL_OPS), 7, 2), boxes, ops, (6, 10))
    for i in range(len(ALL_OPS)):
        single = ground_to_view_pixels(ground, boxes[i], ops[i], (6, 10))
        assert torch.equal(batched[i], single)
        back = view_pixels_to_ground(single, boxes[i], ops[i], (6, 10))
        torch.testing.assert_close(back, ground.double())


def _ground_of_view_token(box, ops, grid):
    """Ground centre of every view token, by applying the ops to an image of ground coordinates
    (independent of the implementation, which inverts index maps)."""
    h, w = grid if ops[2] % 2 == 0 else grid[::-1]  # crop grid before the rotation
    minx, miny, maxx, maxy = box
    xs = minx + (torch.arange(w, dtype=torch.float64) + 0.5) / w * (maxx - minx)
    ys = maxy - (torch.arange(h, dtype=torch.float64) + 0.5) / h * (maxy - miny)
    img = torch.stack(torch.meshgrid(ys, xs, indexing='ij')[::-1])  # 2 x h x w: (x, y)
    if ops[0]:
        img = img.flip(-1)
    if ops[1]:
        img = img.flip(-2)
    img = torch.rot90(img, ops[2], dims=(-2, -1))
    return img.reshape(2, -1).T  # L x 2


@pytest.mark.parametrize('src_grid,dst_grid', [((3, 3), (4, 4)), ((2, 3), (4, 2))])
def test_token_correspondence_points_to_the_token_covering_the_same_ground(src_grid, dst_grid):
    torch.manual_seed(0)
    all_ops = list(itertools.product((0, 1), (0, 1), range(4)))
    src_boxes, dst_boxes, src_ops, dst_ops = [], [], [], []
    n_src = src_grid[0] * src_grid[1]
    for i in range(12):
        sx, sy = torch.rand(2).tolist()
        src_boxes.append([100 + sx * 40, 200 + sy * 40, 100 + sx * 40 + 30, 200 + sy * 40 + 30])
        dst_boxes.append([110.0, 210.0, 170.0, 270.0])
        src_ops.append(all_ops[i % 16])
        dst_ops.append(all_ops[(5 * i + 3) % 16])
    idx = token_correspondence(
        torch.tensor(src_boxes),
        torch.tensor(src_ops),
        src_grid,
        torch.tensor(dst_boxes),
        torch.tensor(dst_ops),
        dst_grid,
    )
    assert idx.shape == (12, n_src)
    for i in range(12):
        src_ground = _ground_of_view_token(src_boxes[i], src_ops[i], src_grid)
        dst_ground = _ground_of_view_token(dst_boxes[i], dst_ops[i], dst_grid)
        # the destination crop's cells (before its rotation)
        h, w = dst_grid if dst_ops[i][2] % 2 == 0 else dst_grid[::-1]
        cell_x, cell_y = 60.0 / w, 60.0 / h
        for j in range(n_src):
            x, y = src_ground[j].tolist()
            inside = 110 <= x < 170 and 210 < y <= 270
            if not inside:
                assert idx[i, j] == -1
                continue
            # the matched token's centre is within half a cell of the source centre
            dx, dy = (dst_ground[idx[i, j]] - src_ground[j]).abs().tolist()
            assert dx <= cell_x / 2 + 1e-6 and dy <= cell_y / 2 + 1e-6, (i, j)
    assert (idx >= 0).any() and (idx == -1).any()


def test_token_correspondence_identity_for_a_view_and_itself():
    box = torch.tensor([[0.0, 0.0, 8.0, 8.0]])
    for ops in itertools.product((0, 1), (0, 1), range(4)):
        o = torch.tensor([ops])
        idx = token_correspondence(box, o, (4, 4), box, o, (4, 4))
        assert idx[0].tolist() == list(range(16)), ops
    with pytest.raises(ValueError, match='src_boxes'):
        token_correspondence(box[0], o, (4, 4), box, o, (4, 4))


def test_flips_move_every_pixel_array_of_a_view_record_alike():
    """GeoRandomFlipRotate moves each image, mask and label of a view record, whatever its
    modalities are called (a name no list holds, here ``xyz``), and records the ops."""
    from mmskysense.datasets.transforms import GeoRandomFlipRotate

    ramp = np.arange(16, dtype=np.float32).reshape(4, 4)
    view = dict(
        images=dict(hr=ramp[None].copy(), xyz=np.stack([ramp, ramp])[:, None]),
        valid_masks=dict(hr=ramp > 3, xyz=np.stack([ramp > 5, ramp > 5])),
        view_boxes=np.zeros(4),
        view_geo_ops=np.zeros(3, dtype=np.int64),
        osm_label=ramp.astype(np.int64),
    )
    np.random.seed(1)
    GeoRandomFlipRotate()(dict(views=dict(global_views=[view], local_views=[])))
    ops = tuple(int(o) for o in view['view_geo_ops'])
    assert ops != (0, 0, 0)
    moved = apply_geo_ops(ramp, *ops)
    assert np.array_equal(view['images']['hr'][0], moved)
    assert np.array_equal(view['images']['xyz'][1, 0], moved)
    assert np.array_equal(view['valid_masks']['xyz'][0], moved > 5)
    assert np.array_equal(view['valid_masks']['hr'], moved > 3)
    assert np.array_equal(view['osm_label'], moved.astype(np.int64))


def test_pretrain_sample_moves_nested_tensors():
    views = ViewGroup(
        images=dict(hr=torch.zeros(2, 3, 4, 4)),
        valid_masks=dict(hr=torch.ones(2, 4, 4, dtype=torch.bool)),
        view_boxes=torch.zeros(2, 4, dtype=torch.float64),
        view_geo_ops=torch.zeros(2, 3, dtype=torch.long),
    )
    sample = PretrainSample(views, views, doy=dict(s2=torch.arange(3)), region_id=7, sample_idx=3)
    moved = sample.to(torch.float64)  # dtype move: exercises the nested walk without a GPU
    assert moved.doy['s2'].dtype == torch.float64
    assert moved.global_views.valid_masks['hr'].dtype == torch.float64
    assert moved.region_id == 7 and moved.sample_idx == 3 and moved.global_views.num_views == 2
