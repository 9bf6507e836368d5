"""DIOR, DIOR-R and FAIR1M readers on fake releases laid out as the real ones: boxes, class
names as the releases spell them, and every kind of bad input."""

import importlib.util
import logging
import os
import os.path as osp
import shutil
from pathlib import Path

import numpy as np
import pytest
from fake_releases import detection as fake

_spec = importlib.util.spec_from_file_location('det_tiny', Path(__file__).with_name('det_tiny.py'))
det_tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(det_tiny)

HBB = fake.HBB_DIR
OBB = fake.OBB_DIR


@pytest.fixture(scope='module')
def dior_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('dior') / 'DIOR')
    # classes 6 and 7 are the two the release spells in mixed case
    truth = fake.make_dior(
        root, dict(train=3, val=2, test=2), size=96, objects=(2, 3), classes=[0, 6, 7, 18], seed=1
    )
    return root, truth


def _dior(cls_name, root, split='train', **kw):
    from mmskysense.registry import DATASETS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    part = 'test' if split == 'test' else 'trainval'
    ds = DATASETS.build(
        dict(
            type=cls_name,
            data_root=root,
            ann_file=f'ImageSets/Main/{split}.txt',
            data_prefix=dict(img_path=f'JPEGImages-{part}'),
            pipeline=[],
            **kw,
        )
    )
    ds.full_init()
    return ds


class _LogRecords(logging.Handler):
    """Collects what mmengine's current logger emits (it does not propagate to the root)."""

    def __enter__(self):
        from mmengine.logging import MMLogger

        self.messages = []
        self.logger = MMLogger.get_current_instance()
        self.logger.addHandler(self)
        return self

    def emit(self, record):
        self.messages.append((record.levelno, record.getMessage()))

    def __exit__(self, *exc):
        self.logger.removeHandler(self)


def _copy(root, tmp_path):
    dst = str(tmp_path / 'DIOR')
    shutil.copytree(root, dst)
    return dst


def test_dior_horizontal_boxes_and_names(dior_root):
    root, truth = dior_root
    ds = _dior('DIORDataset', root, 'train')
    assert len(ds) == 3 and len(ds.metainfo['classes']) == 20
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        objs = truth[info['img_id']]
        assert info['img_path'] == osp.join(root, 'JPEGImages-trainval', info['img_id'] + '.jpg')
        assert (info['width'], info['height']) == (96, 96)
        assert [o['bbox_label'] for o in info['instances']] == [lab for _, lab in objs]
        for inst, (corners, _) in zip(info['instances'], objs):
            # the release's 1-based inclusive box, less one (mmdet's VOC convention)
            expected = np.array(fake.dior_hbb_release(corners)) - 1
            np.testing.assert_array_equal(inst['bbox'], expected)
            assert inst['ignore_flag'] == 0
    names = {
        o.split('<name>')[1].split('</name>')[0]
        for f in os.listdir(osp.join(root, HBB))
        for o in open(osp.join(root, HBB, f)).read().split('<object>')[1:]
    }
    assert 'Expressway-Service-area' in names or 'Expressway-toll-station' in names


def test_dior_r_oriented_corners(dior_root):
    root, truth = dior_root
    ds = _dior('DIORRDataset', root, 'test')
    assert len(ds) == 2
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert info['img_path'].endswith(osp.join('JPEGImages-test', info['img_id'] + '.jpg'))
        objs = truth[info['img_id']]
        assert len(info['instances']) == len(objs)
        for inst, (corners, label) in zip(info['instances'], objs):
            assert inst['bbox_label'] == label
            np.testing.assert_array_equal(np.array(inst['bbox']).reshape(4, 2), np.round(corners))


def test_dior_r_pipeline_gives_rotated_boxes(dior_root):
    """The config's loading steps (qbox -> mmrotate's rbox) on the reader's output."""
    from mmengine.config import Config
    from mmengine.dataset import Compose

    from mmskysense.utils import register_all_modules

    register_all_modules()
    root, truth = dior_root
    cfg = Config.fromfile(str(det_tiny.ROOT / 'configs/_base_/datasets/dior_r.py'))
    ds = _dior('DIORRDataset', root, 'train')
    steps = [s for s in cfg.train_pipeline if 'Flip' not in s['type'] and 'Resize' not in s['type']]
    out = Compose(steps)(ds[0])
    boxes = out['data_samples'].gt_instances.bboxes
    assert type(boxes).__name__ == 'RotatedBoxes' and boxes.tensor.shape == (
        len(truth[ds.get_data_info(0)['img_id']]),
        5,
    )
    # the rotated box has the centre and (nearly) the area of the annotated quadrilateral
    corners = np.round(truth[ds.get_data_info(0)['img_id']][0][0])
    x, y = corners[:, 0], corners[:, 1]
    area = abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2
    cx, cy, w, h, _ = boxes.tensor[0].tolist()
    assert (cx, cy) == pytest.approx(tuple(corners.mean(0)), abs=0.5)
    assert w * h == pytest.approx(area, rel=0.1)


def test_unknown_class_is_an_error_naming_file_and_name(dior_root, tmp_path):
    root = _copy(dior_root[0], tmp_path)
    xml = osp.join(root, HBB, '00002.xml')
    text = open(xml).read()
    name = text.split('<name>')[1].split('</name>')[0]
    open(xml, 'w').write(text.replace(f'<name>{name}</name>', '<name>helipad</name>', 1))
    with pytest.raises(ValueError, match=r"00002\.xml.*'helipad'"):
        _dior('DIORDataset', root, 'train')


def test_difficult_flag_where_a_file_has_one(dior_root, tmp_path):
    """The release's horizontal files have no <difficult> (not ignored); a file that marks an
    object difficult gets it ignored (VOC's rule), an empty tag does not."""
    root = _copy(dior_root[0], tmp_path)
    xml = osp.join(root, HBB, '00001.xml')
    text = open(xml).read()
    assert '<difficult>' not in text
    objects = text.split('</name>')
    marked = objects[0] + '</name><difficult>1</difficult>' + objects[1]
    marked += '</name><difficult/>' + '</name>'.join(objects[2:])
    open(xml, 'w').write(marked)
    flags = [
        i['ignore_flag'] for i in _dior('DIORDataset', root, 'train').get_data_info(0)['instances']
    ]
    assert flags == [1] + [0] * (len(dior_root[1]['00001']) - 1)


def test_annotation_without_image_and_image_without_annotation(dior_root, tmp_path):
    root = _copy(dior_root[0], tmp_path)
    os.remove(osp.join(root, 'JPEGImages-trainval', '00001.jpg'))
    with pytest.raises(FileNotFoundError, match=r'00001\.xml has no image.*00001\.jpg'):
        _dior('DIORDataset', root, 'train')
    root = _copy(dior_root[0], tmp_path / 'b')
    os.remove(osp.join(root, OBB, '00004.xml'))
    with pytest.raises(FileNotFoundError, match=r'image 00004 .*val\.txt has no annotation'):
        _dior('DIORRDataset', root, 'val')


def test_degenerate_boxes_are_counted_skips_or_errors(dior_root, tmp_path):
    root = _copy(dior_root[0], tmp_path)
    hbb = osp.join(root, HBB, '00001.xml')
    text = open(hbb).read()
    xmax = text.split('<xmax>')[1].split('</xmax>')[0]
    xmin = text.split('<xmin>')[1].split('</xmin>')[0]
    open(hbb, 'w').write(text.replace(f'<xmax>{xmax}</xmax>', f'<xmax>{xmin}</xmax>', 1))
    obb = osp.join(root, OBB, '00003.xml')
    text = open(obb).read()
    for tag in ('x_left_top', 'x_right_top', 'x_right_bottom', 'x_left_bottom'):
        old = text.split(f'<{tag}>')[1].split(f'</{tag}>')[0]
        text = text.replace(f'<{tag}>{old}</{tag}>', f'<{tag}>{900 + int(old)}</{tag}>', 1)
    open(obb, 'w').write(text)

    n_before = len(dior_root[1]['00001'])
    with _LogRecords() as log:
        ds = _dior('DIORDataset', root, 'train')
    assert ds.skipped == {'zero area': 1}
    assert len(ds.get_data_info(0)['instances']) == n_before - 1
    assert [
        m
        for level, m in log.messages
        if level == logging.WARNING
        and 'skipped 1 objects with degenerate boxes: 1 zero area' in m
        and '00001.xml' in m
    ]
    with pytest.raises(ValueError, match=r'00001\.xml: object 0 .*zero area'):
        _dior('DIORDataset', root, 'train', invalid_boxes='error')
    ds = _dior('DIORRDataset', root, 'train')
    assert ds.skipped == {'outside the image': 1}


def test_empty_images_are_dropped_from_training_with_a_count(dior_root, tmp_path):
    root = _copy(dior_root[0], tmp_path)
    xml = osp.join(root, HBB, '00002.xml')
    text = open(xml).read()
    open(xml, 'w').write(text.split('<object>')[0] + '</annotation>\n')
    with _LogRecords() as log:
        ds = _dior('DIORDataset', root, 'train', filter_cfg=dict(filter_empty_gt=True))
    assert len(ds) == 2 and ds.filtered == 1
    assert any('dropped 1 images without objects' in m for _, m in log.messages)
    assert len(_dior('DIORDataset', root, 'train', test_mode=True)) == 3


def test_fair1m_dataset_reads_converted_patches(tmp_path):
    from mmskysense.registry import DATASETS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    root = det_tiny.make_data('fair1m', str(tmp_path), size=128)
    ds = DATASETS.build(
        dict(
            type='FAIR1MDataset',
            data_root=root,
            ann_file='validation/annfiles',
            data_prefix=dict(img_path='validation/images'),
            pipeline=[],
        )
    )
    ds.full_init()
    assert len(ds) == len(os.listdir(osp.join(root, 'validation', 'images')))
    assert len(ds.metainfo['classes']) == 37
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert sum(len(i['instances']) for i in infos) > 0
    assert all(len(inst['bbox']) == 8 for i in infos for inst in i['instances'])
    test = DATASETS.build(
        dict(
            type='FAIR1MDataset',
            data_root=root,
            ann_file='',
            data_prefix=dict(img_path='test/images'),
            pipeline=[],
            test_mode=True,
        )
    )
    test.full_init()
    assert len(test) > 0 and test.get_data_info(0)['instances'] == []

    # a patch without its text file, and an unknown class name
    txt = sorted(os.listdir(osp.join(root, 'validation', 'annfiles')))[0]
    os.rename(osp.join(root, 'validation', 'annfiles', txt), str(tmp_path / txt))
    with pytest.raises(FileNotFoundError, match='has no annotation'):
        DATASETS.build(
            dict(
                type='FAIR1MDataset',
                data_root=root,
                ann_file='validation/annfiles',
                data_prefix=dict(img_path='validation/images'),
            )
        ).full_init()
    lines = open(tmp_path / txt).read().splitlines() or ['1 1 9 1 9 9 1 9 Small_Car 0']
    open(osp.join(root, 'validation', 'annfiles', txt), 'w').write(
        ' '.join(lines[0].split()[:8] + ['Hovercraft', '0']) + '\n'
    )
    with pytest.raises(ValueError, match=rf"{txt}.*'Hovercraft'"):
        DATASETS.build(
            dict(
                type='FAIR1MDataset',
                data_root=root,
                ann_file='validation/annfiles',
                data_prefix=dict(img_path='validation/images'),
            )
        ).full_init()
