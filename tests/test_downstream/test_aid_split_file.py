"""The paper's AID training-ratio splits as files: the converter
(``tools/dataset_converters/make_image_split.py --train-ratio``) on a generated copy of the
release's layout (``<Class>/<class>_<n>.jpg``, uneven class sizes as in AID), and the AID dataset
and config reading them from another data root."""

import json
import os
import os.path as osp

import pytest
from fake_releases import downstream as fake_data
from fake_releases.release_tables import AID_FOLDERS
from helpers.tiny import ROOT, load_converter

from mmskysense.datasets.downstream import AIDDataset
from mmskysense.datasets.image_split import load_ratio_split

# images kept per class: the first classes uneven as AID's (220-420 per class, scaled down)
SIZES = {'Airport': 7, 'BareLand': 5, 'BaseballField': 3, 'Beach': 8}
PER_CLASS = 10


@pytest.fixture(scope='module')
def aid_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('AID'))
    fake_data.make_aid(root, per_class=PER_CLASS, size=8)
    for name, keep in SIZES.items():
        for n in range(keep + 1, PER_CLASS + 1):
            os.remove(osp.join(root, name, f'{name.lower()}_{n}.jpg'))
    return root


def _convert(root: str, out: str, ratio: float, seed: int) -> dict:
    load_converter('make_image_split').main(
        [root, out, '--train-ratio', str(ratio), '--seed', str(seed)]
    )
    with open(out) as f:
        return json.load(f)


def _paths(ds) -> list[str]:
    return [ds.get_data_info(i)['img_path'] for i in range(len(ds))]


def _on_disk(root: str) -> set[str]:
    return {
        f'{d}/{f}'
        for d in os.listdir(root)
        for f in os.listdir(osp.join(root, d))
        if f.endswith('.jpg')
    }


@pytest.mark.parametrize('ratio', [0.2, 0.5])
def test_converter_draws_the_ratio_of_every_class(aid_root, tmp_path, ratio):
    split = _convert(aid_root, str(tmp_path / 'split.json'), ratio, seed=0)
    assert split['classes'] == list(AID_FOLDERS)  # the release's 30 folders, sorted
    train = [p for p, _ in split['train']]
    test = [p for p, _ in split['test']]
    assert not set(train) & set(test)
    assert sorted(train + test) == sorted(_on_disk(aid_root))  # every image, once
    for name in AID_FOLDERS:
        n = SIZES.get(name, PER_CLASS)
        # round half to even, at least one: TR 20 % of 7 -> 1, of 8 -> 2; TR 50 % of 5 -> 2
        expected = max(1, round(ratio * n))
        assert sum(p.startswith(name + '/') for p in train) == expected, name
    for path, label in split['train'] + split['test']:
        assert path.split('/')[0] == AID_FOLDERS[label]
    assert (split['train_ratio'], split['seed']) == (ratio, 0)
    again = _convert(aid_root, str(tmp_path / 'again.json'), ratio, seed=0)
    other = _convert(aid_root, str(tmp_path / 'other.json'), ratio, seed=1)
    assert again == split and other['train'] != split['train']
    assert not any(f.endswith('.tmp') for f in os.listdir(tmp_path))


def test_dataset_reads_the_file_as_it_draws(aid_root, tmp_path):
    path = str(tmp_path / 'tr20.json')
    split = _convert(aid_root, path, 0.2, seed=0)
    for part in ('train', 'test'):
        ds = AIDDataset(data_root=aid_root, split=part, split_file=path)
        got = [
            (ds.get_data_info(i)['img_path'], ds.get_data_info(i)['gt_label'])
            for i in range(len(ds))
        ]
        want = [(osp.join(aid_root, p), AID_FOLDERS.index(p.split('/')[0])) for p, _ in split[part]]
        assert sorted(got) == sorted(want)
        # the same draw as the dataset's in memory one (the same seed and ratio)
        drawn = AIDDataset(data_root=aid_root, split=part)
        assert sorted(_paths(drawn)) == sorted(p for p, _ in got)
    every = AIDDataset(data_root=aid_root, split='all', split_file=path)
    assert len(every) == len(_on_disk(aid_root))


def test_dataset_refuses_a_file_it_cannot_trust(aid_root, tmp_path):
    path = str(tmp_path / 'tr20.json')
    split = _convert(aid_root, path, 0.2, seed=0)
    with pytest.raises(ValueError, match=r'drawn with train_ratio=0.2.*train_ratio=0.5'):
        AIDDataset(data_root=aid_root, split='train', train_ratio=0.5, split_file=path)
    with pytest.raises(ValueError, match=r'drawn with seed=0.*seed=3'):
        AIDDataset(data_root=aid_root, split='test', seed=3, split_file=path)
    # another root: every listed image is missing, and the error says where it looked
    other = tmp_path / 'elsewhere'
    other.mkdir()
    with pytest.raises(FileNotFoundError, match=r'image\(s\) of split file .* not under'):
        AIDDataset(data_root=str(other), split='test', split_file=path)
    # a path whose folder is not its label's class
    first = split['train'][0][0]  # an Airport image, labelled BareLand
    bad = dict(split, train=[[first, 1]] + split['train'][1:])
    bad_path = tmp_path / 'bad.json'
    bad_path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=rf"train\[0\] '{first}' is labelled 'BareLand'"):
        AIDDataset(data_root=aid_root, split='train', split_file=str(bad_path))
    # an image in both parts
    both = dict(split, test=split['test'] + [split['train'][0]])
    bad_path.write_text(json.dumps(both))
    with pytest.raises(ValueError, match=r'1 image\(s\) are in both "train" and "test"'):
        load_ratio_split(str(bad_path))
    # a class the dataset does not know
    renamed = dict(split, classes=['Aeroport'] + split['classes'][1:])
    bad_path.write_text(json.dumps(renamed))
    with pytest.raises(ValueError, match=r"classes \['Aeroport'\].*lacks \['Airport'\]"):
        AIDDataset(data_root=aid_root, split='train', split_file=str(bad_path))


def test_converter_refuses_a_class_left_without_test_images(tmp_path):
    root = tmp_path / 'AID'
    fake_data.make_aid(str(root), per_class=1, size=8)
    with pytest.raises(
        ValueError, match=r'Airport.* holds 1 image\(s\); train_ratio 0.2 leaves none'
    ):
        _convert(str(root), str(tmp_path / 'x.json'), 0.2, seed=0)
    assert not (tmp_path / 'x.json').exists()


@pytest.mark.parametrize(
    'config, ratio',
    [
        ('linear_skysense-v2-huge_2xb32-20k_aid-tr20.py', 0.2),
        ('linear_skysense-v2-huge_2xb32-20k_aid-tr50.py', 0.5),
    ],
)
def test_config_reads_another_root_by_override(aid_root, tmp_path, config, ratio):
    """What configs/skysense_v2_cls/README.md tells users of a read-only copy of AID to do."""
    from mmengine.config import Config

    from mmskysense.registry import DATASETS
    from mmskysense.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(str(ROOT / 'configs' / 'skysense_v2_cls' / config))
    # the config names its split file by ratio, so a file of the other ratio is refused
    assert f'tr{round(ratio * 100)}' in cfg.test_dataloader.dataset.split_file
    path = str(tmp_path / 'split.json')
    split = _convert(aid_root, path, ratio, seed=0)
    overrides = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        overrides[f'{loader}.dataset.data_root'] = aid_root
        overrides[f'{loader}.dataset.split_file'] = path
    cfg.merge_from_dict(overrides)
    for loader, part in (('train_dataloader', 'train'), ('test_dataloader', 'test')):
        ds = DATASETS.build(cfg[loader].dataset)
        assert sorted(_paths(ds)) == sorted(osp.join(aid_root, p) for p, _ in split[part])
