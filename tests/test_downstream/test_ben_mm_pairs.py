"""The BEN-MM pair list from the BigEarthNet v1.0 release's own S1 metadata
(``tools/dataset_converters/bigearthnet_mm.py``), on a generated release in the real layout:
``BigEarthNet-S1-v1.0/<S1 patch>/<S1 patch>_labels_metadata.json`` naming
``corresponding_s2_patch`` (as torchgeo's copy of the release's files), no pair list shipped."""

import json
import os
import os.path as osp

import pytest
from fake_releases import downstream as fake_data
from helpers.tiny import load_converter

from mmskysense.datasets.downstream import BigEarthNetMMDataset

convert = load_converter('bigearthnet_mm')


def _release(tmp_path):
    root = fake_data.make_bigearthnet(
        str(tmp_path), patches=dict(train=4, val=2, test=2), size=12, with_s1=True,
        split_columns=1,
    )  # fmt: skip
    # the generator's own record of its pairs; the v1.0 archives ship no such list
    mapping = osp.join(root, 's1s2_mapping.csv')
    with open(mapping) as f:
        truth = sorted(tuple(line.strip().split(',')) for line in f if line.strip())
    os.remove(mapping)
    return root, truth


def test_pairs_from_the_s1_metadata(tmp_path, capsys):
    root, truth = _release(tmp_path)
    with pytest.raises(FileNotFoundError, match='s1s2_mapping.csv is missing'):
        BigEarthNetMMDataset(data_root=root, split='train')
    out = convert.main([root])
    assert out == osp.join(root, 's1s2_mapping.csv')
    assert '8 S2 / S1 pairs' in capsys.readouterr().out
    with open(out) as f:
        written = [tuple(line.strip().split(',')) for line in f]
    assert written == truth and len(written) == 8
    # the dataset reads the S2-only split files through it, and checks each pair's JSON
    ds = BigEarthNetMMDataset(data_root=root, split='train')
    assert len(ds) == 4
    pairs = dict(truth)
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        s2 = osp.basename(osp.dirname(info['modalities']['s2']['band_paths'][0]))
        assert osp.basename(info['s1_path']) == pairs[s2]


def _s1_json(root, index=0):
    s1_root = osp.join(root, 'BigEarthNet-S1-v1.0')
    name = sorted(os.listdir(s1_root))[index]
    return osp.join(s1_root, name, f'{name}_labels_metadata.json')


def _edit(path, **fields):
    with open(path) as f:
        meta = json.load(f)
    meta.update(fields)
    for k in [k for k, v in meta.items() if v is None]:
        del meta[k]
    with open(path, 'w') as f:
        json.dump(meta, f)


def test_bad_metadata_is_named_and_nothing_written(tmp_path):
    root, truth = _release(tmp_path)
    out = osp.join(root, 's1s2_mapping.csv')
    first, second = _s1_json(root, 0), _s1_json(root, 1)
    _edit(first, corresponding_s2_patch=None)
    with pytest.raises(ValueError, match=f"{osp.basename(first)}: no 'corresponding_s2_patch'"):
        convert.main([root])
    assert not osp.exists(out) and not [n for n in os.listdir(root) if n.endswith('.partial')]
    _edit(first, corresponding_s2_patch='S2A_MSIL2A_20170613T101031_99_99')
    with pytest.raises(FileNotFoundError, match="'S2A_MSIL2A_20170613T101031_99_99' is not a"):
        convert.main([root])
    _edit(first, corresponding_s2_patch=truth[0][0])
    _edit(second, corresponding_s2_patch=truth[0][0])
    with pytest.raises(ValueError, match='which .* names too'):
        convert.main([root])
    os.remove(second)
    with pytest.raises(FileNotFoundError, match=f'{osp.basename(second)}: missing'):
        convert.main([root])
    assert not osp.exists(out)
