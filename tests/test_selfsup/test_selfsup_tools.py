"""tools/model_converters/extract_teacher_backbone.py, tools/analysis_tools/knn_eval.py and
tools/misc/gen_text_embeddings.py."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]


def _load_tool(rel):
    spec = importlib.util.spec_from_file_location(Path(rel).stem, REPO / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


extract = _load_tool('tools/model_converters/extract_teacher_backbone.py')
knn = _load_tool('tools/analysis_tools/knn_eval.py')
gen = _load_tool('tools/misc/gen_text_embeddings.py')


def test_extract_teacher_backbone_renames_teacher_keys(tmp_path):
    sd = {
        'backbone.w': torch.zeros(2),
        'teacher.backbone.w': torch.ones(2),
        'teacher.backbone.stages.0.b': torch.full((3,), 2.0),
        'teacher.fusion.x': torch.ones(1),
        'heads.pixel.last_v': torch.ones(1),
    }
    src = tmp_path / 'iter_10.pth'
    torch.save(dict(state_dict=sd, meta=dict(iter=10)), src)
    dst = tmp_path / 'out' / 'backbone.pth'
    extract.main([str(src), str(dst)])
    out = torch.load(dst, weights_only=False)
    assert set(out['state_dict']) == {'backbone.w', 'backbone.stages.0.b'}
    # the teacher's weights, not the student's
    assert torch.equal(out['state_dict']['backbone.w'], torch.ones(2))
    assert out['meta']['iter'] == 10
    student = extract.extract_backbone(sd, 'student')
    assert torch.equal(student['backbone.w'], torch.zeros(2))
    with pytest.raises(ValueError, match="no key starts with prefix 'teacher.backbone.'"):
        extract.extract_backbone({'foo': torch.ones(1)})


def test_weighted_knn_matches_a_direct_vote():
    torch.manual_seed(0)
    train = F.normalize(torch.randn(30, 5), dim=1)
    labels = torch.randint(0, 3, (30,))
    test = F.normalize(torch.randn(7, 5), dim=1)
    pred = knn.weighted_knn_predict(train, labels, test, num_classes=3, k=4, temperature=0.1)
    for i in range(7):
        sims = [(float(test[i] @ train[j]), int(labels[j])) for j in range(30)]
        sims.sort(reverse=True)
        votes = [0.0, 0.0, 0.0]
        for s, c in sims[:4]:
            votes[c] += math.exp(s / 0.1)
        assert pred[i].item() == max(range(3), key=lambda c: votes[c])


def test_gen_text_embeddings_random_backend_feeds_ita_and_open_clip_error(tmp_path):
    from mmskysense.models.losses.ita import ITALoss

    out = tmp_path / 'text.pth'
    gen.main([str(out), '--backend', 'random', '--dims', '16', '--classes', 'water', 'forest'])
    ita = ITALoss(str(out))
    assert ita.class_names == ['water', 'forest'] and ita.text_embeddings.shape == (2, 16)
    assert torch.load(out, weights_only=False)['meta']['backend'] == 'random'
    if importlib.util.find_spec('open_clip') is None:
        with pytest.raises(SystemExit, match='open_clip'):
            gen.main([str(tmp_path / 'clip.pth')])
    with pytest.raises(SystemExit, match='duplicates'):
        gen.main([str(out), '--backend', 'random', '--classes', 'a', 'a'])
