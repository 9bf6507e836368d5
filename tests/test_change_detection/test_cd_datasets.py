"""LEVIR-CD and OSCD read as released, the pair loading and augmentation, and bad input."""

import os
import os.path as osp

import numpy as np
import pytest
from fake_releases import change_detection as fake_cd

from mmskysense.utils import register_all_modules

register_all_modules()


def _pipeline(steps):
    from mmengine.dataset import Compose

    return Compose(steps)


def test_levir_cd_both_extraction_layouts(tmp_path):
    from mmskysense.datasets.change_detection import LEVIRCDDataset

    pairs = dict(train=3, val=1, test=2)
    split_root = fake_cd.make_levir_cd(str(tmp_path / 'split'), pairs=pairs, size=32)
    merged_root = fake_cd.make_levir_cd(
        str(tmp_path / 'merged'), pairs=pairs, size=32, layout='merged'
    )
    for split, num in pairs.items():
        a = LEVIRCDDataset(data_root=split_root, split=split, pipeline=[])
        b = LEVIRCDDataset(data_root=merged_root, split=split, pipeline=[])
        assert len(a) == len(b) == num
        for x, y in zip(a, b):
            assert [osp.basename(p) for p in x['img_paths']] == [
                osp.basename(p) for p in y['img_paths']
            ]
            assert osp.basename(x['seg_map_path']) == osp.basename(x['img_paths'][0])
            assert x['img_paths'][0].endswith(osp.join('A', osp.basename(x['seg_map_path'])))
            assert x['img_paths'][1].endswith(osp.join('B', osp.basename(x['seg_map_path'])))
    assert LEVIRCDDataset(data_root=split_root, split='train', pipeline=[]).metainfo['classes'] == (
        'unchanged',
        'changed',
    )


def test_levir_cd_pair_and_label_loading(tmp_path):
    from mmskysense.datasets.change_detection import LEVIRCDDataset

    root = fake_cd.make_levir_cd(str(tmp_path), pairs=dict(test=1), size=48)
    pipeline = [dict(type='LoadImagePair', num_bands=3), dict(type='LoadBinaryChangeLabel')]
    out = LEVIRCDDataset(data_root=root, split='test', pipeline=pipeline)[0]
    import mmcv

    a = mmcv.imread(out['img_paths'][0], channel_order='rgb')
    b = mmcv.imread(out['img_paths'][1], channel_order='rgb')
    label = mmcv.imread(out['seg_map_path'], flag='unchanged')
    assert out['img'].shape == (48, 48, 6) and out['img'].dtype == np.float32
    np.testing.assert_array_equal(out['img'][..., :3], a)  # date-major, RGB
    np.testing.assert_array_equal(out['img'][..., 3:], b)
    np.testing.assert_array_equal(out['gt_seg_map'], label // 255)
    assert 0 < out['gt_seg_map'].mean() < 0.5


def test_levir_cd_missing_date_file_is_named(tmp_path):
    from mmskysense.datasets.change_detection import LEVIRCDDataset

    root = fake_cd.make_levir_cd(str(tmp_path), pairs=dict(train=2), size=16)
    os.remove(osp.join(root, 'train', 'B', 'train_2.png'))
    with pytest.raises(FileNotFoundError, match=r'train/B/train_2\.png is missing'):
        LEVIRCDDataset(data_root=root, split='train', pipeline=[])
    with pytest.raises(FileNotFoundError, match='LEVIR-CD val split not found'):
        LEVIRCDDataset(data_root=root, split='val', pipeline=[])


def test_pairs_of_different_size_or_band_count_are_refused(tmp_path):
    import mmcv

    rng = np.random.default_rng(0)
    a = str(tmp_path / 'a.png')
    mmcv.imwrite(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), a)
    b_small = str(tmp_path / 'b_small.png')
    mmcv.imwrite(rng.integers(0, 255, (16, 12, 3), dtype=np.uint8), b_small)
    load = _pipeline([dict(type='LoadImagePair')])
    with pytest.raises(
        ValueError,
        match=r'differ in size: .*a\.png is 16x16, .*b_small\.png '
        r'is 16x12',
    ):
        load(dict(img_paths=[a, b_small]))
    b_grey = str(tmp_path / 'b_grey.png')
    mmcv.imwrite(rng.integers(0, 255, (16, 16), dtype=np.uint8), b_grey)
    with pytest.raises(
        ValueError,
        match=r'differ in band count: .*a\.png has 3, .*b_grey\.png '
        'has 1',
    ):
        _pipeline([dict(type='LoadImagePair', color_type='unchanged')])(dict(img_paths=[a, b_grey]))
    with pytest.raises(FileNotFoundError, match='missing.png'):
        load(dict(img_paths=[a, str(tmp_path / 'missing.png')]))


def test_label_that_is_not_0_255_is_refused(tmp_path):
    import mmcv

    path = str(tmp_path / 'label.png')
    mask = np.zeros((8, 8), dtype=np.uint8)
    mask[2:4, 2:4] = 255
    mask[0, 0] = 1  # e.g. a mask already divided by 255, or resampled
    mmcv.imwrite(mask, path)
    load = _pipeline([dict(type='LoadBinaryChangeLabel')])
    with pytest.raises(ValueError, match=r'label\.png holds values \[1\]; expected only 0'):
        load(dict(seg_map_path=path))
    mask[0, 0] = 0
    mmcv.imwrite(np.stack([mask, mask, mask], -1), path)  # grey stored as RGB is fine
    assert load(dict(seg_map_path=path))['gt_seg_map'].sum() == 4
    colour = np.stack([mask, mask, mask // 2], -1)
    mmcv.imwrite(colour, path)
    with pytest.raises(ValueError, match='channels that differ'):
        load(dict(seg_map_path=path))


def test_oscd_reads_the_backbone_bands_in_order(tmp_path):
    import rasterio

    from mmskysense.datasets.change_detection import OSCD_S2_BANDS, OSCDDataset

    root = fake_cd.make_oscd(str(tmp_path))
    train = OSCDDataset(
        data_root=root,
        split='train',
        pipeline=[dict(type='LoadImagePair', num_bands=10), dict(type='LoadBinaryChangeLabel')],
    )
    test = OSCDDataset(data_root=root, split='test', pipeline=[])
    assert [s['city'] for s in train] == ['abudhabi', 'beirut']
    assert [s['city'] for s in test] == ['dubai']
    assert test[0]['dates'] == ['20151126', '20170830']
    sample = train[1]
    h, w = sample['img'].shape[:2]
    assert sample['img'].shape == (h, w, 20) and sample['gt_seg_map'].shape == (h, w)
    for d in (0, 1):
        for i, band in enumerate(OSCD_S2_BANDS):
            path = osp.join(
                root, fake_cd.OSCD_IMAGES, 'beirut', f'imgs_{d + 1}_rect', f'{band}.tif'
            )
            with rasterio.open(path) as src:
                np.testing.assert_array_equal(sample['img'][..., 10 * d + i], src.read(1))


def test_oscd_missing_band_file_and_city_list(tmp_path):
    from mmskysense.datasets.change_detection import OSCDDataset

    root = fake_cd.make_oscd(str(tmp_path))
    os.remove(osp.join(root, fake_cd.OSCD_IMAGES, 'beirut', 'imgs_2_rect', 'B8A.tif'))
    with pytest.raises(FileNotFoundError, match=r"'beirut': band file .*imgs_2_rect/B8A\.tif"):
        OSCDDataset(data_root=root, split='train', pipeline=[])
    os.remove(osp.join(root, fake_cd.OSCD_IMAGES, 'test.txt'))
    with pytest.raises(FileNotFoundError, match=r'OSCD split file not found: .*test\.txt'):
        OSCDDataset(data_root=root, split='test', pipeline=[])
    with pytest.raises(ValueError, match='unknown OSCD bands'):
        OSCDDataset(data_root=root, split='test', bands=['B13'], pipeline=[])


def test_one_geometry_for_both_dates_photometry_per_date():
    # date 2 = date 1 + 1000: after shared flips, rotation and crop the offset holds at every
    # pixel; per-date jitter then changes the dates differently
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 200, (40, 40, 3)).astype(np.float32)
    img = np.concatenate([a, a + 1000], axis=-1)
    label = (rng.random((40, 40)) < 0.3).astype(np.uint8)
    geometry = _pipeline(
        [
            dict(type='mmseg.RandomRotate', prob=1.0, degree=(90, 90), pad_val=0, seg_pad_val=255),
            dict(type='mmseg.RandomCrop', crop_size=(24, 24)),
            dict(type='RandomFlip', prob=1.0, direction='horizontal'),
        ]
    )
    np.random.seed(0)
    out = geometry(
        dict(
            img=img.copy(),
            gt_seg_map=label.copy(),
            seg_fields=['gt_seg_map'],
            img_shape=(40, 40),
            num_dates=2,
        )
    )
    d1, d2 = out['img'][..., :3], out['img'][..., 3:]
    assert out['img'].shape == (24, 24, 6)
    np.testing.assert_allclose(d2 - d1, 1000, atol=1e-3)
    jitter = _pipeline(
        [dict(type='PairPhotometricJitter', brightness=0.3, contrast=0.3, prob=1.0, clip=None)]
    )
    same = np.concatenate([a, a], axis=-1)
    out = jitter(dict(img=same, num_dates=2))['img']
    # two independent continuous draws: the two copies of one image come out different
    assert np.abs(out[..., :3] - out[..., 3:]).max() > 1e-2
    assert np.abs(out[..., :3] - a).max() > 1e-2


def test_random_date_exchange_swaps_the_dates():
    img = np.concatenate([np.zeros((4, 4, 2)), np.ones((4, 4, 2))], -1).astype(np.float32)
    swap = _pipeline([dict(type='RandomDateExchange', prob=1.0)])
    out = swap(dict(img=img.copy(), img_paths=['a.tif', 'b.tif']))
    assert out['date_exchanged'] and out['img_paths'] == ['b.tif', 'a.tif']
    np.testing.assert_array_equal(out['img'][..., :2], 1)
    np.testing.assert_array_equal(out['img'][..., 2:], 0)
    keep = _pipeline([dict(type='RandomDateExchange', prob=0.0)])
    np.testing.assert_array_equal(keep(dict(img=img.copy()))['img'], img)
