"""A marker planted at one ground coordinate in HR, S2 and S1 shows up at the same relative
position in every view of every modality, over many random crops, flips and rotations, where the
view geometry that the losses run (``mmskysense.structures.view_geometry``: the point maps and
the token correspondence of MGCL) says it is."""

import glob
import itertools
import os.path as osp

import numpy as np
import pytest
import rasterio
import torch
from rasterio.enums import Resampling

from mmskysense.structures import ground_to_view_pixels, token_correspondence

HR_MARK, S2_MARK_DN, S1_MARK_DB = 255, 10000, 15.0


def _plant_markers(sample: dict) -> tuple:
    """Marker at the centre of a 10 m pixel well inside the HR tile; returns its ground (x, y)."""
    folder = sample['folder']
    a, _, mx0, _, e, my0 = sample['ms_transform']
    minx, miny, maxx, maxy = sample['bounds']
    # the 10 m pixel whose centre is nearest to 30 % / 60 % of the tile
    col = int(np.floor((minx + 0.3 * (maxx - minx) - mx0) / a))
    row = int(np.floor((my0 - (maxy - 0.6 * (maxy - miny))) / -e))
    x, y = mx0 + (col + 0.5) * a, my0 + (row + 0.5) * e
    with rasterio.open(osp.join(folder, 'hr.tif'), 'r+') as dst:
        # flat backgrounds, so a marker's centroid is its position and nothing else
        data = np.full((dst.count, dst.height, dst.width), 100, dtype=np.uint8)
        r, c = dst.index(x, y)
        data[:, r - 8 : r + 8, c - 8 : c + 8] = HR_MARK  # 5 m square centred on (x, y)
        dst.write(data)
        if dst.overviews(1):  # overviews are not updated by a write: regenerate them
            dst.build_overviews(dst.overviews(1), Resampling.average)
    for path in glob.glob(osp.join(folder, 's2', '*.tif')):
        with rasterio.open(path, 'r+') as dst:
            data = np.full((dst.count, dst.height, dst.width), 1000, dtype=np.uint16)
            data[:, row, col] = S2_MARK_DN
            dst.write(data)
    with rasterio.open(osp.join(folder, 's1.tif'), 'r+') as dst:
        data = np.full((dst.count, dst.height, dst.width), -15.0, dtype=np.float32)
        data[:, row, col] = S1_MARK_DB
        dst.write(data)
    return x, y


def _centroid(weights: torch.Tensor) -> torch.Tensor:
    """Weighted centroid ``(col, row)`` in continuous pixel coordinates."""
    h, w = weights.shape
    rows = torch.arange(h, dtype=torch.float64)[:, None] + 0.5
    cols = torch.arange(w, dtype=torch.float64)[None] + 0.5
    total = weights.sum()
    return torch.stack([(weights * cols).sum() / total, (weights * rows).sum() / total])


@pytest.mark.parametrize(
    'hr_size,sizes,check_ms,rounds',
    [
        (256, dict(), True, 25),
        # HR views shrunk 5-8x: read from the HR file's overviews (their own geotransform)
        (
            512,
            dict(global_size=dict(hr=64, s2=8, s1=8), local_size=dict(hr=32, s2=4, s1=4)),
            False,
            10,
        ),
    ],
)
def test_marker_lands_at_same_ground_in_every_view(
    geo_data, build_dataset, geo_pipeline, hr_size, sizes, check_ms, rounds
):
    data = geo_data(num_samples=1, nodata=False, seed=3, hr_size=hr_size)
    x, y = _plant_markers(data['samples'][0])
    dataset = build_dataset(data['index_path'], geo_pipeline(num_frames=dict(s2=4, s1=3), **sizes))
    ground = torch.tensor([[x, y]], dtype=torch.float64)
    np.random.seed(0)  # crops, dates and flips: reproducible
    checked, ops_seen, errors = 0, set(), dict(hr=[], s2=[], s1=[])
    pairs_checked, pair_errors = 0, []
    for _ in range(rounds):
        packed = dataset[0]
        seen = []  # (box, ops, HR size, marker centroid) of the views that hold the marker
        for _, views in packed['inputs'].groups():
            for v in range(views.images['hr'].shape[0]):
                box = views.view_boxes[v]
                ops = views.view_geo_ops[v].tolist()
                # only views whose box holds the whole S2 marker pixel plus a 10 m margin
                if not (box[0] + 10 <= x <= box[2] - 10 and box[1] + 10 <= y <= box[3] - 10):
                    continue
                checked += 1
                ops_seen.add(tuple(ops))
                rel = {}
                hr = views.images['hr'][v].min(0).values
                size = hr.shape[-1]
                expected = ground_to_view_pixels(ground, box, ops, (size, size))[0]
                # box filters and linear interpolation keep a symmetric peak's centroid
                found = _centroid((hr - 100).clamp(min=0).double())
                errors['hr'].append((found - expected).abs().max().item())
                seen.append((box, torch.as_tensor(ops), size, found))
                rel['hr'] = found / size
                if not check_ms:
                    continue
                for name, background in (('s2', 0.1), ('s1', -15.0)):
                    frames = views.images[name][v]  # K x C x h x w
                    size = frames.shape[-1]
                    expected = ground_to_view_pixels(ground, box, ops, (size, size))[0]
                    for t in range(frames.shape[0]):
                        excess = (frames[t].mean(0) - background).clamp(min=0).double()
                        # bilinear resampling spreads the peak into a symmetric tent: its
                        # centroid above the flat background is the marker's ground position
                        found = _centroid(excess)
                        errors[name].append((found - expected).abs().max().item())
                    rel[name] = found / size
                # the same ground, at the same relative position in every modality
                assert torch.allclose(rel['hr'], rel['s2'], atol=0.05), (rel, box, ops)
                assert torch.allclose(rel['hr'], rel['s1'], atol=0.05), (rel, box, ops)
        # MGCL's correspondence at the HR pixel grid: the pixel holding the marker in one view
        # points to the pixel holding it in every other view
        for (box_a, ops_a, size_a, found_a), (
            box_b,
            ops_b,
            size_b,
            found_b,
        ) in itertools.permutations(seen, 2):
            idx = token_correspondence(
                box_a[None],
                ops_a[None],
                (size_a, size_a),
                box_b[None],
                ops_b[None],
                (size_b, size_b),
            )[0]
            col, row = (int(v) for v in found_a.floor())
            hit = idx[row * size_a + col].item()
            assert hit >= 0
            predicted = torch.tensor([hit % size_b + 0.5, hit // size_b + 0.5], dtype=torch.float64)
            # A's pixel centre is half an A pixel from the marker at most: in B's pixels, plus
            # B's cell centre, plus the centroid's own error
            gsd_ratio = ((box_a[2] - box_a[0]) / size_a / ((box_b[2] - box_b[0]) / size_b)).item()
            pair_errors.append((predicted - found_b).abs().max().item() - 0.5 * gsd_ratio)
            pairs_checked += 1
    assert checked >= 30, checked
    assert pairs_checked >= 30, pairs_checked
    assert max(pair_errors) <= 0.5 + 0.25, max(pair_errors)
    assert len(ops_seen) >= 12, ops_seen  # most of the 16 flip/rotation combinations
    # within a quarter of an HR view pixel, a tenth of an S2/S1 view pixel
    assert max(errors['hr']) <= 0.25, max(errors['hr'])
    if check_ms:
        assert max(errors['s2']) <= 0.1, max(errors['s2'])
        assert max(errors['s1']) <= 0.1, max(errors['s1'])
