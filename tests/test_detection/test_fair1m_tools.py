"""The FAIR1M converter (patches as mmrotate's DOTA split tool cuts them) and the submission
tool: a hand-made border case, a round trip release -> patches -> merged result XML -> read
back, and bad input."""

import importlib.util
import json
import os
import os.path as osp
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_releases import detection as fake

_spec = importlib.util.spec_from_file_location('det_tiny', Path(__file__).with_name('det_tiny.py'))
det_tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(det_tiny)
converter = det_tiny.load_converter('fair1m')
submission = det_tiny.load_converter('fair1m_submission')


def _rect(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def _read_txt(path):
    out = []
    for line in open(path).read().splitlines():
        items = line.split()
        out.append((np.array(items[:8], dtype=float).reshape(4, 2), items[8], int(items[9])))
    return out


def test_border_objects_kept_as_mmrotate_split_keeps_them(tmp_path):
    """A 200 x 200 image, 128 px patches with 32 px overlap: windows start at x, y = 0 and 72.
    Object B (x 100..135) lies 28/35 = 80% inside the first column of windows: kept there with
    its full corners and difficulty 2 (cut), and whole in the second; object C (x 120..150),
    27% inside the first column, only in the second."""
    src = tmp_path / 'FAIR1M'
    img = fake.background(200, 200, np.random.default_rng(0))
    fake.write_tif(str(src / 'validation' / 'images' / '7.tif'), img)
    objects = [
        (_rect(10, 10, 40, 30), 'Small Car'),
        (_rect(100, 20, 135, 40), 'Bus'),
        (_rect(120, 50, 150, 60), 'Dump Truck'),
    ]
    fake.write_fair1m_label(
        str(src / 'validation' / 'labelXml' / '7.xml'), '7.tif', (200, 200), objects
    )
    out = tmp_path / 'split'
    converter.convert(str(src), str(out), folders=['validation'], patch_size=128, overlap=32)
    meta = json.load(open(out / 'validation' / 'patches.json'))
    assert [p[1:] for p in meta['images']['7']['patches']] == [[0, 0], [72, 0], [0, 72], [72, 72]]
    ann = out / 'validation' / 'annfiles'
    first = _read_txt(ann / '7__128__0___0.txt')
    assert [(name, diff) for _, name, diff in first] == [('Small_Car', 0), ('Bus', 2)]
    np.testing.assert_allclose(first[1][0], _rect(100, 20, 135, 40))  # not clipped at x = 128
    second = _read_txt(ann / '7__128__72___0.txt')
    assert [(name, diff) for _, name, diff in second] == [('Bus', 0), ('Dump_Truck', 0)]
    np.testing.assert_allclose(second[1][0], _rect(120, 50, 150, 60) - [72, 0])
    assert _read_txt(ann / '7__128__0___72.txt') == []
    # patches are full size, the image's pixels at their offset
    import cv2

    patch = cv2.imread(str(out / 'validation' / 'images' / '7__128__72___72.png'))[..., ::-1]
    np.testing.assert_array_equal(patch, img[72:200, 72:200])


def test_release_to_patches_to_submission_round_trip(tmp_path):
    """Every labelled object, cut into patches, read back from the patch files, moved back onto
    its image, merged across patches, written in the server's format and read back, gives the
    release's polygon: written, read back, equal."""
    from mmrotate.structures.bbox import qbox2rbox

    import mmskysense.compat  # noqa: F401
    from mmskysense.datasets.downstream.fair1m import FAIR1M_CLASSES, read_fair1m_xml

    src = tmp_path / 'FAIR1M'
    truth = fake.make_fair1m(
        str(src), {'validation': 2}, size=(217, 250), objects=(6, 9), object_size=(24, 44), seed=3
    )
    out = tmp_path / 'split'
    converter.convert(str(src), str(out), folders=['validation'], patch_size=128, overlap=40)
    meta = json.load(open(out / 'validation' / 'patches.json'))
    # the patch annotations, as a detector that found every object would predict them
    results = []
    for image_id, info in meta['images'].items():
        for name, x, y in info['patches']:
            objs = _read_txt(out / 'validation' / 'annfiles' / f'{name}.txt')
            qboxes = torch.tensor(np.array([o[0].reshape(-1) for o in objs]).reshape(-1, 8))
            labels = [FAIR1M_CLASSES.index(o[1].replace('_', ' ')) for o in objs]
            results.append(
                dict(
                    img_id=name,
                    pred_instances=dict(
                        bboxes=qbox2rbox(qboxes.float()),
                        scores=torch.ones(len(objs)),
                        labels=torch.tensor(labels, dtype=torch.long),
                    ),
                )
            )
    sub = tmp_path / 'submission'
    counts = submission.make_submission(
        results, str(out / 'validation' / 'patches.json'), str(sub), make_zip=True
    )
    assert sorted(os.listdir(sub)) == sorted(f'{i}.xml' for i in truth['validation'])
    for image_id, objs in truth['validation'].items():
        back = read_fair1m_xml(str(sub / f'{image_id}.xml'))
        assert back['filename'] == f'{image_id}.tif'
        assert counts[image_id] == len(objs) == len(back['points'])
        assert all(s == 1.0 for s in back['scores'])
        expected = sorted(
            (fake.FAIR1M_NAMES[lab], tuple(np.round(np.sort(c, 0), 1).ravel())) for c, lab in objs
        )
        got = sorted(
            (n, tuple(np.round(np.sort(p, 0), 1).ravel()))
            for n, p in zip(back['names'], back['points'])
        )
        assert [n for n, _ in got] == [n for n, _ in expected]
        for (_, g), (_, e) in zip(got, expected):
            np.testing.assert_allclose(g, e, atol=0.15)
    with zipfile.ZipFile(str(sub) + '.zip') as z:
        assert sorted(z.namelist()) == sorted(f'test/{i}.xml' for i in truth['validation'])


def test_submission_xml_writer_reader_round_trip(tmp_path):
    from mmskysense.datasets.downstream.fair1m import read_fair1m_xml, write_fair1m_xml

    rng = np.random.default_rng(0)
    polys = [rng.uniform(0, 5000, (4, 2)).round(6) for _ in range(5)]
    names = ['Boeing737', 'Small Car', 'other-ship', 'Bridge', 'A350']
    scores = rng.uniform(0, 1, 5).round(6).tolist()
    path = str(tmp_path / '12.xml')
    write_fair1m_xml(path, '12.tif', names, polys, scores=scores, width=6000, height=5000)
    back = read_fair1m_xml(path)
    assert back['names'] == names and back['scores'] == scores
    assert (back['width'], back['height']) == (6000, 5000)
    for p, q in zip(polys, back['points']):
        np.testing.assert_array_equal(p, q)


def test_converter_bad_release(tmp_path):
    src = tmp_path / 'FAIR1M'
    fake.make_fair1m(str(src), {'validation': 2}, size=(100, 100), objects=(1, 2))
    os.remove(src / 'validation' / 'images' / '0.tif')
    with pytest.raises(FileNotFoundError, match=r'0\.xml has no image'):
        converter.convert(
            str(src), str(tmp_path / 'a'), folders=['validation'], patch_size=64, overlap=16
        )
    os.remove(src / 'validation' / 'labelXml' / '0.xml')
    os.remove(src / 'validation' / 'labelXml' / '1.xml')
    with pytest.raises(FileNotFoundError, match=r'1\.tif has no label'):
        converter.convert(
            str(src), str(tmp_path / 'b'), folders=['validation'], patch_size=64, overlap=16
        )
    assert not (tmp_path / 'b' / 'validation').exists()
    fake.write_fair1m_label(
        str(src / 'validation' / 'labelXml' / '1.xml'),
        '1.tif',
        (100, 100),
        [(_rect(5, 5, 20, 20), 'Hovercraft'), (_rect(30, 30, 30, 50), 'Bus')],
    )
    with pytest.raises(ValueError, match=r"1\.xml.*'Hovercraft'"):
        converter.convert(
            str(src), str(tmp_path / 'c'), folders=['validation'], patch_size=64, overlap=16
        )
    assert not list((tmp_path / 'c').glob('*.partial'))
    assert not (tmp_path / 'c' / 'validation').exists()
    # a zero-area polygon is skipped and counted
    fake.write_fair1m_label(
        str(src / 'validation' / 'labelXml' / '1.xml'),
        '1.tif',
        (100, 100),
        [(_rect(5, 5, 20, 20), 'Bus'), (_rect(30, 30, 30, 50), 'Bus')],
    )
    summary = converter.convert(
        str(src), str(tmp_path / 'd'), folders=['validation'], patch_size=64, overlap=16
    )
    assert summary['validation']['skipped'] == {'zero area': 1}
    with pytest.raises(ValueError, match=r'1\.xml: object 1 .*zero area'):
        converter.convert(
            str(src),
            str(tmp_path / 'e'),
            folders=['validation'],
            patch_size=64,
            overlap=16,
            strict=True,
        )


def test_submission_needs_every_patch(tmp_path):
    src = tmp_path / 'FAIR1M'
    fake.make_fair1m(str(src), {'test': 1}, size=(150, 150))
    out = tmp_path / 'split'
    converter.convert(str(src), str(out), folders=['test'], patch_size=100, overlap=20)
    meta = json.load(open(out / 'test' / 'patches.json'))
    patches = meta['images']['0']['patches']
    assert len(patches) == 4 and not (out / 'test' / 'annfiles').exists()
    empty = dict(bboxes=torch.zeros(0, 5), scores=torch.zeros(0), labels=torch.zeros(0).long())
    results = [dict(img_id=p[0], pred_instances=empty) for p in patches[:3]]
    with pytest.raises(ValueError, match='1 patches .* have no prediction'):
        submission.make_submission(
            results, str(out / 'test' / 'patches.json'), str(tmp_path / 'sub')
        )
    results.append(dict(img_id=patches[3][0], pred_instances=empty))
    counts = submission.make_submission(
        results, str(out / 'test' / 'patches.json'), str(tmp_path / 'sub')
    )
    assert counts == {'0': 0} and osp.isfile(tmp_path / 'sub' / '0.xml')
