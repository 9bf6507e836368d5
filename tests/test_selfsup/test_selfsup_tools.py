"""tools/model_converters/extract_teacher_backbone.py, tools/analysis_tools/knn_eval.py and
tools/misc/gen_text_embeddings.py."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mmskysense.evaluation import weighted_knn_predict

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
    pred = weighted_knn_predict(train, labels, test, num_classes=3, k=4, temperature=0.1)
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


plot = _load_tool('tools/analysis_tools/plot_pretrain_curves.py')


def test_plot_pretrain_curves_reads_the_scalar_log_and_writes_the_png(tmp_path):
    import json

    log = tmp_path / 'scalars.json'
    records = [dict(step=0, **{'knn_texture/top1': 20.0, 'knn_texture/majority': 19.0})]
    for step in range(1, 11):
        records.append(
            dict(
                step=step,
                iter=step,
                loss=10.0 - step * 0.1,
                loss_mgcl=6.0,
                loss_ita=1.5,
                **{
                    'mgcl_image_hr/tgt_entropy': 0.0 if step == 7 else 0.5,
                    # step 7's batch gave the term no rows: its 0 is no data, not a collapse
                    'mgcl_image_hr/rows': 0.0 if step == 7 else 16.0,
                    'teacher_feat/hr/erank': 3.0,
                },
            )
        )
        if step % 5 == 0:
            records.append({'step': step, 'knn_texture/top1': 20.0 + step})
    log.write_text('\n'.join(json.dumps(r) for r in records) + '\n')
    out = tmp_path / 'curves.png'
    plot.main([str(log), str(out), '--title', 'test'])
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    curves = json.loads((tmp_path / 'curves.json').read_text())
    assert curves['knn_texture/top1'] == dict(step=[0, 5, 10], value=[20.0, 25.0, 30.0])
    assert curves['loss']['step'] == list(range(1, 11))
    assert set(curves) >= {'loss_mgcl', 'loss_ita', 'mgcl_image_hr/tgt_entropy'}
    assert curves['mgcl_image_hr/tgt_entropy']['step'] == [1, 2, 3, 4, 5, 6, 8, 9, 10]
    assert set(curves['mgcl_image_hr/tgt_entropy']['value']) == {0.5}
    (tmp_path / 'bad.json').write_text('{"step": 1, "loss": 2}\nnot json\n')
    with pytest.raises(ValueError, match='bad.json:2'):
        plot.main([str(tmp_path / 'bad.json'), str(out)])
    with pytest.raises(FileNotFoundError, match='no scalar log'):
        plot.main([str(tmp_path / 'missing.json'), str(out)])


def test_knn_curves_reads_both_logs_side_by_side(tmp_path):
    tool = _load_tool('tools/analysis_tools/knn_curves.py')
    control = tmp_path / 'log.jsonl'
    control.write_text(
        '{"step": 0, "knn_top1": 18.5}\n{"step": 1, "loss": 7.0}\n'
        '{"step": 250, "knn_top1": 23.86}\n'
    )
    ours = tmp_path / 'scalars.json'
    ours.write_text('{"knn/top1": 21.8, "step": 0}\n{"loss": 3.0, "step": 10}\n')
    out = tool.main([f'ctl={control}', f'ours={ours}'])
    assert out.splitlines()[2:] == ['| 0 | 18.5 | 21.8 |', '| 250 | 23.9 | - |']
    empty = tmp_path / 'empty.jsonl'
    empty.write_text('{"step": 1, "loss": 7.0}\n')
    with pytest.raises(ValueError, match=r'empty\.jsonl: no k-NN record'):
        tool.main([f'x={empty}'])
