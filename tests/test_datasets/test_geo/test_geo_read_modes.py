"""Windowed reads (prefetched series, HR overviews) give the same views as reading whole rasters."""

import numpy as np
import torch


def _views(build_dataset, geo_pipeline, index_path, **crop_kwargs):
    dataset = build_dataset(index_path, geo_pipeline(**crop_kwargs))
    np.random.seed(0)  # the same boxes, dates and flips for every read mode
    return [dataset[0] for _ in range(3)]


def test_window_prefetch_equals_whole_raster(geo_data, build_dataset, geo_pipeline):
    data = geo_data(seed=11)
    window = _views(build_dataset, geo_pipeline, data['index_path'], use_overviews=False)
    whole = _views(
        build_dataset,
        geo_pipeline,
        data['index_path'],
        read_mode=dict(hr='whole', s2='whole', s1='whole', osm='whole'),
    )
    unfetched = _views(
        build_dataset, geo_pipeline, data['index_path'], use_overviews=False, prefetch_series=False
    )
    for a, b, c in zip(window, whole, unfetched):
        for group in ('global_views', 'local_views'):
            for m in ('hr', 's2', 's1'):
                assert torch.equal(
                    getattr(a['inputs'], group).images[m], getattr(b['inputs'], group).images[m]
                ), (group, m)
                assert torch.equal(
                    getattr(a['inputs'], group).images[m], getattr(c['inputs'], group).images[m]
                ), (group, m)
                assert torch.equal(
                    getattr(a['inputs'], group).valid_masks[m],
                    getattr(b['inputs'], group).valid_masks[m],
                )
            assert torch.equal(
                getattr(a['inputs'], group).osm_label, getattr(b['inputs'], group).osm_label
            )


def test_hr_overviews_match_native_pooling(geo_data, build_dataset, geo_pipeline):
    """Views shrunk 4x read from the HR file's overviews agree with native block averaging."""
    data = geo_data(seed=12, hr_size=512)
    sizes = dict(global_size=dict(hr=64, s2=8, s1=8), local_size=dict(hr=32, s2=4, s1=4))
    ovr = _views(build_dataset, geo_pipeline, data['index_path'], **sizes)
    native = _views(build_dataset, geo_pipeline, data['index_path'], use_overviews=False, **sizes)
    for a, b in zip(ovr, native):
        for group in ('global_views', 'local_views'):
            va = getattr(a['inputs'], group).valid_masks['hr']
            vb = getattr(b['inputs'], group).valid_masks['hr']
            # block grids differ (overviews align to the raster origin): hole edges may move
            assert (va == vb).float().mean() > 0.97
            both = (va & vb)[:, None].expand_as(getattr(a['inputs'], group).images['hr'])
            diff = (
                getattr(a['inputs'], group).images['hr'] - getattr(b['inputs'], group).images['hr']
            )[both].abs()
            assert diff.mean() < 4.0, diff.mean()  # 8-bit DN; textures differ at block edges
            assert diff.max() > 0  # the overviews were read, not the native pixels
            assert not (
                getattr(a['inputs'], group).images['hr'][~va[:, None].expand_as(both)]
            ).any()
