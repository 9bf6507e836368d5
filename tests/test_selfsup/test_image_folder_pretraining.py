"""A folder of plain image chips as a pretraining source (issue 24): the seeded split, the
dataset, ``ImageMultiCrop``'s geometry, its refusals, the k-NN of an image split, and a short
pretraining run of the AID recipe end to end on generated chips in AID's layout
(``<ClassName>/<classname>_<n>.jpg``)."""

import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmskysense.datasets import ImageFolderPretrainDataset, load_image_split, make_image_split
from mmskysense.datasets.raster import GeoSampleError
from mmskysense.datasets.transforms import ImageMultiCrop

CLASSES = ('Airport', 'BareLand', 'Beach')


def write_folder(root, per_class=(7, 6, 5), size=40, ext='.png'):
    """AID's layout; each class its own flat colour plus seeded noise (PNG: lossless)."""
    rng = np.random.default_rng(0)
    for c, (name, n) in enumerate(zip(CLASSES, per_class)):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(n):
            img = np.full((size, size, 3), 60 + 70 * c, dtype=np.uint8)
            img = np.clip(img + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / f'{name.lower()}_{i + 1}{ext}'), img)
    return root


def ramp_image(path, h=120, w=150):
    """R = column, G = row, B = 7: a pixel's colour is its position (RGB, written as BGR)."""
    rgb = np.zeros((h, w, 3), dtype=np.uint8)
    rgb[..., 0] = np.arange(w)[None, :]
    rgb[..., 1] = np.arange(h)[:, None]
    rgb[..., 2] = 7
    cv2.imwrite(str(path), rgb[..., ::-1])
    return rgb


def test_split_partitions_every_class(tmp_path):
    root = write_folder(tmp_path / 'aid')
    split = make_image_split(str(root), seed=3)
    assert split['classes'] == list(CLASSES)
    ref = [p for p, _ in split['reference']]
    qry = [p for p, _ in split['query']]
    everything = split['pretrain'] + ref + qry
    assert len(everything) == len(set(everything)) == 18  # disjoint and complete
    for c, (name, n) in enumerate(zip(CLASSES, (7, 6, 5))):
        pre = [p for p in split['pretrain'] if p.startswith(name + '/')]
        assert len(pre) == round(n * 0.5)
        assert {y for p, y in split['reference'] + split['query'] if p.startswith(name)} == {c}
        assert any(p.startswith(name) for p in ref) and any(p.startswith(name) for p in qry)
    assert make_image_split(str(root), seed=3) == split  # seeded
    assert make_image_split(str(root), seed=4) != split


def test_split_refusals_name_the_problem(tmp_path):
    root = write_folder(tmp_path / 'aid', per_class=(3, 1, 2))
    with pytest.raises(ValueError, match=r'BareLand.*1 image'):
        make_image_split(str(root))
    bad = tmp_path / 'split.json'
    bad.write_text(
        json.dumps(
            dict(
                format='mmskysense-image-split',
                version=1,
                classes=['a'],
                pretrain=[],
                reference=[['x.png', 3]],
                query=[['y.png', 0]],
            )
        )
    )
    with pytest.raises(ValueError, match=r'reference\[0\] must be \[path, class index < 1\]'):
        load_image_split(str(bad))
    with pytest.raises(FileNotFoundError, match='make_image_split.py'):
        load_image_split(str(tmp_path / 'missing.json'))


def test_dataset_reads_only_the_pretrain_part(tmp_path):
    root = write_folder(tmp_path / 'aid')
    split = make_image_split(str(root), seed=0)
    split_file = tmp_path / 'split.json'
    split_file.write_text(json.dumps(split))
    ds = ImageFolderPretrainDataset(data_root=str(root), split_file=str(split_file))
    assert sorted(d['sample_id'] for d in ds) == sorted(split['pretrain'])
    everything = ImageFolderPretrainDataset(data_root=str(root))
    assert len(everything) == 18
    (tmp_path / 'empty' / 'sub').mkdir(parents=True)
    (tmp_path / 'empty' / 'sub' / 'notes.txt').write_text('no image here')
    with pytest.raises(FileNotFoundError, match=r'empty.* holds no image'):
        ImageFolderPretrainDataset(data_root=str(tmp_path / 'empty'))
    with pytest.raises(FileNotFoundError, match=r'missing.* does not exist'):
        ImageFolderPretrainDataset(data_root=str(tmp_path / 'missing'))


@pytest.mark.parametrize('seed', range(4))
def test_views_show_the_pixels_of_their_boxes(tmp_path, seed):
    """Every view pixel (i, j) shows the image at its box's point (x, y) = the pixel
    (row -y, col x): on the ramp image its colour is that position (within a pixel of
    resampling). This is the convention token_correspondence reads the boxes with."""
    path = tmp_path / 'ramp.png'
    ramp_image(path)
    np.random.seed(seed)
    crop = ImageMultiCrop(
        num_global=2,
        num_local=3,
        global_size=48,
        local_size=16,
        global_scale=(0.3, 1.0),
        local_scale=(0.05, 0.3),
    )
    out = crop(dict(img_path=str(path)))
    views = out['views']['global_views'] + out['views']['local_views']
    assert len(views) == 5 and out['date_masks'] == {}
    for view in views:
        x0, y0, x1, y1 = view['view_boxes']
        hr = view['images']['hr']
        assert 0 <= x0 < x1 <= 150 and -120 <= y0 < y1 <= 0
        s = hr.shape[-1]
        centres = (np.arange(s) + 0.5) / s
        col = x0 + centres * (x1 - x0) - 0.5  # the column whose centre is at x
        row = -y1 + centres * (y1 - y0) - 0.5
        np.testing.assert_allclose(hr[0], np.broadcast_to(col[None, :], (s, s)), atol=1.0)
        np.testing.assert_allclose(hr[1], np.broadcast_to(row[:, None], (s, s)), atol=1.0)
        assert (hr[2] == 7).all() and view['valid_masks']['hr'].all()
        assert (view['view_geo_ops'] == 0).all()


def test_refusals_name_the_file(tmp_path):
    crop = ImageMultiCrop(num_global=1, num_local=0, global_size=16, local_size=8)
    gray = tmp_path / 'gray.png'
    cv2.imwrite(str(gray), np.zeros((20, 20), dtype=np.uint8))
    with pytest.raises(GeoSampleError, match=r'gray\.png: 1 band\(s\)'):
        crop(dict(img_path=str(gray)))
    deep = tmp_path / 'deep.png'
    cv2.imwrite(str(deep), np.zeros((20, 20, 3), dtype=np.uint16))
    with pytest.raises(GeoSampleError, match=r'deep\.png: uint16 pixels'):
        crop(dict(img_path=str(deep)))
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'not a jpeg')
    with pytest.raises(GeoSampleError, match=r'broken\.jpg: missing or not decodable'):
        crop(dict(img_path=str(broken)))


def test_alpha_is_the_validity_mask(tmp_path):
    bgra = np.full((32, 32, 4), 200, dtype=np.uint8)
    bgra[:, :16, 3] = 0  # the left half transparent
    bgra[..., 0] = 10  # blue in BGRA order
    path = tmp_path / 'rgba.png'
    cv2.imwrite(str(path), bgra)
    crop = ImageMultiCrop(
        num_global=1,
        num_local=0,
        global_size=32,
        local_size=8,
        global_scale=(1.0, 1.0),
        ratio=(1.0, 1.0),
    )
    view = crop(dict(img_path=str(path)))['views']['global_views'][0]
    hr, valid = view['images']['hr'], view['valid_masks']['hr']
    assert not valid[:, :16].any() and valid[:, 16:].all()
    assert (hr[:, :, :16] == 0).all()  # invalid pixels are 0, as geo views' nodata
    assert (hr[2, :, 16:] == 10).all() and (hr[0, :, 16:] == 200).all()


class BrightnessFeatures(torch.nn.Module):
    """A stand-in backbone: (mean brightness, 255 - it) as a 2-channel 1 x 1 map, so the
    feature direction orders images by brightness."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))  # extract_features reads the device

    def forward(self, x):
        m = x['hr'].mean(dim=(1, 2, 3))
        return dict(hr=[torch.stack([m, 1 - m], 1)[..., None, None]])


def test_knn_of_an_image_split(tmp_path):
    """The sets hold exactly the split's reference and query images, and classes that the
    features separate by a wide margin are classified without error."""
    from mmskysense.evaluation import knn_accuracy, load_image_split_sets

    root = write_folder(tmp_path / 'aid', per_class=(10, 10, 10))
    split = make_image_split(str(root), seed=0)
    split_file = tmp_path / 'split.json'
    split_file.write_text(json.dumps(split))
    sets = load_image_split_sets(str(root), str(split_file), 32)
    assert sets['reference'][0].shape == (len(split['reference']), 3, 32, 32)
    assert sets['query'][1].tolist() == [y for _, y in split['query']]
    first = cv2.imread(osp.join(root, split['query'][0][0]))[..., ::-1]
    expected = cv2.resize(first, (32, 32), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)
    np.testing.assert_array_equal(sets['query'][0][0], expected)
    # flat levels 60 / 130 / 200 (noise +-20 per pixel): normalised to -1..1 the class means
    # are far apart in the feature's angle, so the k nearest are always of the same class
    mean, std = torch.full((3, 1, 1), 127.5), torch.full((3, 1, 1), 127.5)
    result = knn_accuracy(BrightnessFeatures(), sets['reference'], sets['query'], mean, std, k=3)
    assert result['num_train'] == len(split['reference'])
    assert result['num_test'] == len(split['query'])
    assert result['top1'] == 100.0
    # the same sets with the query labels rotated: every prediction is now wrong
    rotated = (sets['query'][0], (sets['query'][1] + 1) % 3)
    assert (
        knn_accuracy(BrightnessFeatures(), sets['reference'], rotated, mean, std, k=3)['top1']
        == 0.0
    )


@pytest.mark.slow
def test_aid_recipe_pretrains_on_an_image_folder(tmp_path):
    """The AID recipe, shrunk, trains end to end from a folder of JPEG chips: finite losses
    of every self-supervised term, the online k-NN logged, a checkpoint written."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmskysense.utils import register_all_modules

    register_all_modules()
    root = write_folder(tmp_path / 'aid', per_class=(6, 6, 6), size=48, ext='.jpg')
    split_file = tmp_path / 'split.json'
    split_file.write_text(json.dumps(make_image_split(str(root), seed=0)))
    cfg = Config.fromfile(
        osp.join(
            osp.dirname(__file__),
            '../../configs/skysense_v2',
            'skysense-v2_tiny_1xb32-cpu-1000it-ssl_aid.py',
        )
    )
    cfg.work_dir = str(tmp_path / 'work')
    # a visualizer of its own: mmengine keeps one instance per name for the process, and an
    # earlier runner's (same name) would write this run's scalars into its own folder
    cfg.visualizer.name = f'aid_{tmp_path.name}'
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.dataset.data_root = str(root)
    cfg.train_dataloader.dataset.split_file = str(split_file)
    cfg.train_cfg.max_iters = 3
    cfg.param_scheduler[0].end = 1
    cfg.param_scheduler[1].begin = 1
    cfg.default_hooks.checkpoint.interval = 3
    cfg.default_hooks.logger.interval = 1
    knn = [h for h in cfg.custom_hooks if h['type'] == 'KNNEvalHook'][0]
    knn.update(data_root=str(root), split_file=str(split_file), interval=3)
    runner = Runner.from_cfg(cfg)
    runner.train()
    knn_hook = [h for h in runner.hooks if type(h).__name__ == 'KNNEvalHook'][0]
    assert [r['step'] for r in knn_hook.history] == [0, 3]
    assert all(0 <= r['knn/top1'] <= 100 for r in knn_hook.history)
    logs = [
        json.loads(line)
        for line in open(osp.join(runner.log_dir, 'vis_data', 'scalars.json'))
        if '"loss_mgcl"' in line
    ]
    assert len(logs) == 3
    for rec in logs:
        for key in ('loss_mgcl', 'loss_qsacl', 'loss_gcpl'):
            assert np.isfinite(rec[key]) and rec[key] > 0
        assert 'loss_ita' not in rec
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_3.pth'))
