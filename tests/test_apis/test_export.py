"""Export (tools/deployment/export.py, mmskysense.apis.export) and the ONNX Runtime adapter:
the paper's UperNet, BIT and linear classifier (tiny backbone with its MoE blocks, 64 px
tiles) exported to ONNX give PyTorch's probabilities on the same tiles, carry their input
contract in the QGIS Deepness metadata format and beside the file, and run through the scene
CLI with neither torch nor an OpenMMLab package imported."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import rasterio
import torch
from helpers.modules import REPO, load_module

from mmskysense.apis import init_model
from mmskysense.apis.export import (
    check_exportable,
    contract_of_model,
    export_contract,
    export_model,
    load_pt2,
)
from mmskysense.apis.scene import (
    OnnxRuntimeAdapter,
    SceneInputs,
    build_adapter,
    contract_from_config,
    contract_from_dict,
    contract_to_dict,
)
from mmskysense.apis.scene.contract import read_contract_json, sidecar_path
from mmskysense.models.layers.mixture_of_experts import MixtureOfExperts

toys = load_module('export_toys', REPO / 'tests/test_apis/export_toys.py')
scene_toys = load_module('export_scene_toys', REPO / 'tests/test_apis/scene_toys.py')
TILE = toys.TILE
HEAVY = ('torch', 'mmengine', 'mmcv', 'mmseg', 'mmdet', 'mmpretrain', 'mmrotate')


def _scene(folder, kind, size=(150, 130), seed=0):
    """The scene files of ``kind``: one RGB raster (uint8, nodata 0, a hole), or two dates on
    one grid for the change detector; returns their paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for date in range(2 if kind == 'bit' else 1):
        data = rng.integers(1, 255, (3, *size), dtype=np.uint8)
        data[:, :20, :20] = 0
        path = folder / f'{kind}_date{date}.tif'
        scene_toys.write_raster(str(path), data, 0.05, nodata=0)
        paths.append(str(path))
    return paths


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Each kind: the model from its checkpoint (init_model), its ONNX export and report."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp('export')
    out = {}
    for kind in toys.KINDS:
        cfg_path, ckpt, _ = toys.tiny_model(kind, folder)
        model, meta = init_model(str(cfg_path), str(ckpt))
        # optimize=False: the exporter's graph optimisation only saves ONNX Runtime work
        report = export_model(model, str(folder / f'{kind}.onnx'), tile=TILE, optimize=False)
        out[kind] = dict(model=model, meta=meta, cfg=cfg_path, ckpt=ckpt, report=report)
    return out


@pytest.mark.parametrize('kind', list(toys.KINDS))
def test_onnx_runtime_gives_pytorchs_probabilities(kind, exported, tmp_path):
    """The same tiles of a scene through the torch adapter (the model's data preprocessor, then
    the model) and through ONNX Runtime (the contract's preprocessing, then the graph)."""
    e = exported[kind]
    model, report = e['model'], e['report']
    assert any(isinstance(m, MixtureOfExperts) for m in model.modules())  # the MoE exports
    onnx = OnnxRuntimeAdapter(report['path'])
    spec = onnx.contract.spec
    with SceneInputs.open(spec, {spec.reference.name: _scene(tmp_path, kind)}) as scene:
        tiles = list(scene.grid(TILE, 16))
        batch = scene.read(tiles[:3])  # a batch size other than the traced one (2)
        ref = build_adapter(model, scene.spec).__call__(batch).numpy()
        got = onnx(batch)
    assert got.shape == ref.shape == (3, len(onnx.contract.classes), TILE, TILE)
    diff = float(np.abs(got - ref).max())
    agree = float((got.argmax(1) == ref.argmax(1)).mean())
    print(f'{kind}: max |ORT - PyTorch| = {diff:.2e}, arg-max agreement {agree:.4%}, '
          f'{report["bytes"] / 2**20:.1f} MiB')  # fmt: skip
    assert diff < 1e-4
    assert agree >= 0.999
    # the outputs depend on the tiles: a constant graph would pass the checks above
    assert np.abs(got[0] - got[1]).max() > 1e-3


def test_batch_axis_is_dynamic(exported):
    onnx = OnnxRuntimeAdapter(exported['upernet']['report']['path'])
    x = np.random.default_rng(1).integers(0, 255, (5, 3, TILE, TILE)).astype(np.uint8)
    five = onnx.predict_array(x)
    one = onnx.predict_array(x[2:3])
    assert five.shape[0] == 5 and one.shape[0] == 1
    np.testing.assert_allclose(one[0], five[2], atol=1e-5)
    with pytest.raises(ValueError, match='tiles of 64 px'):
        onnx.predict_array(x[:, :, :32, :32])


@pytest.mark.parametrize('kind', list(toys.KINDS))
def test_onnx_metadata_in_deepness_format(kind, exported):
    import onnxruntime as ort

    e = exported[kind]
    path = e['report']['path']
    options = ort.SessionOptions()
    options.log_severity_level = 3
    meta = ort.InferenceSession(path, options).get_modelmeta().custom_metadata_map
    values = {k: json.loads(v) for k, v in meta.items()}
    cfg_contract = contract_from_config(e['model'].cfg, e['meta'])
    # Deepness: class names keyed 0..K-1, consecutive; tile and overlap (percent of the tile)
    names = values['class_names']
    assert [names[str(i)] for i in range(len(names))] == cfg_contract.classes
    overlap = 0 if kind == 'classifier' else 16  # a classifier's map: a grid of windows
    assert values['tiles_size'] == TILE and values['tiles_overlap'] == overlap * 100 // TILE
    # Deepness divides by 255 before standardising: mean and std over 255, per graph channel
    channels = e['report']['input']['shape'][1]
    mean, std = cfg_contract.channel_stats(channels)
    np.testing.assert_allclose(values['standardization_mean'], np.array(mean) / 255, rtol=1e-12)
    np.testing.assert_allclose(values['standardization_std'], np.array(std) / 255, rtol=1e-12)
    if kind == 'classifier':
        assert 'model_type' not in values  # Deepness has no scene-classifier type
    else:
        assert values['model_type'] == 'Segmentor' and values['seg_thresh'] == 0.0
    if kind == 'upernet':  # Potsdam's 5 cm, in centimetres; RGB bands in order for Deepness
        assert values['resolution'] == 5.0
        assert e['report']['graph_bands'] == [1, 2, 3]
    # the whole contract, in the metadata and beside the file, equal to the config's (tile and
    # overlap those of the export)
    stored = dict(values['mmskysense.input_contract'])
    assert stored.pop('export')['outputs'] == ['probs']
    side, extra = read_contract_json(sidecar_path(path))
    assert stored == contract_to_dict(side)
    expected = contract_to_dict(cfg_contract) | dict(tile=TILE, overlap=overlap)
    assert stored == expected
    assert extra['export']['input']['shape'] == ['N', channels, TILE, TILE]


@pytest.mark.parametrize('top_k', [1, 2])
def test_moe_dense_dispatch_equals_the_sorted_one(top_k):
    torch.manual_seed(0)
    moe = MixtureOfExperts(32, 64, num_experts=4, top_k=top_k, dispatch='loop').eval()
    x = torch.randn(2, 37, 32)
    with torch.no_grad():
        ref, ref_loss, ref_counts = moe(x)
        moe.dispatch = 'dense'
        got, loss, counts = moe(x)
    assert torch.equal(counts, ref_counts) and torch.equal(loss, ref_loss)
    assert (got - ref).abs().max() < 1e-6
    # the experts' outputs weigh in: zero gates elsewhere, not every expert summed
    assert (got - ref).abs().max() < 1e-3 * ref.abs().max()


def test_moe_auto_dispatch_is_dense_while_exporting():
    torch.manual_seed(0)
    moe = MixtureOfExperts(32, 64, num_experts=4).eval()

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.moe = moe

        def forward(self, x):
            return self.moe(x)[0]

    x = torch.randn(3, 32)
    program = torch.export.export(Wrap(), (x,), dynamic_shapes={'x': {0: torch.export.Dim('n')}})
    nodes = {str(n.target) for n in program.graph.nodes}
    assert not any('grouped_mm' in t or 'split' in t for t in nodes)
    y = torch.randn(5, 32)  # another routing: the graph has no data-dependent shapes baked in
    with torch.no_grad():
        torch.testing.assert_close(program.module()(y), Wrap()(y), atol=1e-6, rtol=0)


def test_pt2_export_carries_the_contract(exported, tmp_path):
    tool = load_module('export_tool', REPO / 'tools/deployment/export.py')
    e = exported['classifier']
    out = tmp_path / 'cls.pt2'
    assert tool.main([str(e['cfg']), str(e['ckpt']), str(out), '--tile', str(TILE)]) == 0
    program, contract = load_pt2(str(out))
    assert contract == read_contract_json(sidecar_path(str(out)))[0]
    assert contract.task == 'classification' and contract.tile == TILE
    x = torch.randn(4, 3, TILE, TILE)
    with torch.no_grad():
        ref = e['model'](x, mode='tensor').softmax(1)
        torch.testing.assert_close(program.module()(x), ref, atol=1e-5, rtol=0)


def test_contract_round_trip_and_refusals(exported):
    contract = exported['upernet']['report']['contract']
    again = contract_from_dict(json.loads(json.dumps(contract_to_dict(contract))))
    assert again == contract and again.spec.reference.bands == [3, 2, 1]
    doc = contract_to_dict(contract)
    doc['spec']['inputs'][0]['wavelength_typo'] = 1
    with pytest.raises(ValueError, match='ModalityInput has no field wavelength_typo'):
        contract_from_dict(doc, 'model.json')
    with pytest.raises(ValueError, match='newer than this mmskysense'):
        contract_from_dict(contract_to_dict(contract) | dict(version=99))
    with pytest.raises(ValueError, match='not an input contract'):
        contract_from_dict(dict(task='segmentation'), 'x.json')
    det = dataclasses.replace(contract, task='detection')
    with pytest.raises(ValueError, match='not exported whole'):
        check_exportable(exported['upernet']['model'], det, 'model')


def test_onnx_without_contract_is_refused(exported, tmp_path):
    import onnx

    model = onnx.load(exported['bit']['report']['path'])
    del model.metadata_props[:]
    bare = tmp_path / 'bare.onnx'
    onnx.save(model, str(bare))
    with pytest.raises(ValueError, match='no input contract'):
        OnnxRuntimeAdapter(str(bare))


def test_train_hook_writes_the_contract_the_engine_reads(exported, tmp_path, capsys):
    """tools/train.py adds InputContractHook; its contract in a checkpoint's meta is what
    init_model, the CLI and the exporter use, not the config's pipelines."""
    from types import SimpleNamespace

    from mmengine.config import Config

    from mmskysense.apis.model_loading import checkpoint_contract
    from mmskysense.engine.hooks import InputContractHook

    train = load_module('train_tool', REPO / 'tools/train.py')
    e = exported['upernet']
    cfg = Config.fromfile(str(e['cfg']))
    train.add_input_contract_hook(cfg)
    assert [h['type'] for h in cfg.custom_hooks].count('InputContractHook') == 1
    train.add_input_contract_hook(cfg)  # listed once
    assert [h['type'] for h in cfg.custom_hooks].count('InputContractHook') == 1

    cfg.scene_tile, cfg.scene_overlap = TILE, 8  # the config's tiling, stated
    classes = [f'class{i}' for i in range(6)]
    dataset = SimpleNamespace(metainfo=dict(classes=classes))
    runner = SimpleNamespace(cfg=cfg, train_dataloader=SimpleNamespace(dataset=dataset))
    hook = InputContractHook()
    hook.before_train(runner)
    checkpoint = dict(
        meta=dict(dataset_meta=dict(classes=classes)), state_dict=e['model'].state_dict()
    )
    hook.before_save_checkpoint(runner, checkpoint)
    stored = checkpoint['meta']['input_contract']
    assert stored['classes'] == classes and (stored['tile'], stored['overlap']) == (TILE, 8)
    ckpt = tmp_path / 'trained.pth'
    torch.save(checkpoint, ckpt)

    assert checkpoint_contract(str(ckpt)) == contract_from_dict(stored)
    model, _ = init_model(str(e['cfg']), str(ckpt))
    assert model.input_contract == contract_from_dict(stored)
    # the CLI tiles by the checkpoint's contract (64 px / 8), where the config says 512 / 128
    cli = load_module('infer_cli_contract', REPO / 'tools/infer_large_scene.py')
    scene = _scene(tmp_path, 'upernet', size=(120, 120))
    cli.main(
        [str(e['cfg']), str(ckpt), *scene, str(tmp_path / 'out.tif'), '--quiet', '--no-preview']
    )
    assert '4 in the grid' in capsys.readouterr().out  # 120 px in tiles of 64, overlap 8: 2 x 2
    # the exporter starts from it too (export_model's contract): its classes, not the config's
    exported_contract = export_contract(contract_of_model(model), TILE)
    assert exported_contract.classes == classes and exported_contract.overlap == 8


def test_scene_cli_runs_the_onnx_file_without_torch(exported, tmp_path):
    """tools/infer_large_scene.py MODEL.onnx in a subprocess where importing torch or an
    OpenMMLab package fails; its class map equals the PyTorch model's through the same CLI."""
    e = exported['upernet']
    scene = _scene(tmp_path, 'upernet')
    out_onnx, out_torch = tmp_path / 'onnx.tif', tmp_path / 'torch.tif'
    guard = (
        'import runpy, sys\n'
        f'HEAVY = {HEAVY!r}\n'
        'class Block:\n'
        '    def find_spec(self, name, path=None, target=None):\n'
        '        if name.split(".")[0] in HEAVY:\n'
        '            raise ImportError(f"{name} imported by the ONNX path")\n'
        'sys.meta_path.insert(0, Block())\n'
        'sys.argv = sys.argv[1:]\n'
        'try:\n'
        '    runpy.run_path(sys.argv[0], run_name="__main__")\n'
        'except SystemExit as e:\n'
        '    if e.code: raise\n'
        'print("heavy modules:", sorted(m for m in sys.modules if m.split(".")[0] in HEAVY))\n'
    )
    argv = [str(REPO / 'tools/infer_large_scene.py'), e['report']['path'], *scene, str(out_onnx)]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    run = subprocess.run(
        [sys.executable, '-c', guard, *argv, '--quiet', '--no-preview', '--confidence'],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'heavy modules: []' in run.stdout

    cli = load_module('infer_cli_torch', REPO / 'tools/infer_large_scene.py')
    cli.main(
        [str(e['cfg']), 'none', *scene, str(out_torch), '--tile', str(TILE), '--overlap', '16',
         '--quiet', '--no-preview', '--confidence'],
        load_model=lambda *a: (e['model'], e['meta']),
    )  # fmt: skip
    with rasterio.open(out_onnx) as a, rasterio.open(out_torch) as b:
        assert a.transform == b.transform and a.crs == b.crs
        onnx_map, torch_map = a.read(), b.read()
        assert a.tags().get('class_names') == b.tags().get('class_names')
    agree = float((onnx_map[0] == torch_map[0]).mean())
    print(f'class map pixel agreement ONNX vs PyTorch: {agree:.4%}')
    assert agree >= 0.999
    assert len(np.unique(onnx_map[0])) >= 3  # a map, not one class
    assert np.abs(onnx_map[1].astype(int) - torch_map[1]).max() <= 1  # confidence, percent


def test_backbone_alone_exports(exported, tmp_path):
    """--part backbone: the backbone's feature maps, ONNX Runtime against PyTorch; the scene
    adapter refuses it (no class probabilities)."""
    import onnxruntime as ort

    e = exported['classifier']
    out = tmp_path / 'backbone.onnx'
    report = export_model(e['model'], str(out), part='backbone', tile=TILE, optimize=False)
    assert report['outputs'] == ['feat0']  # the classifier's backbone gives its last stage
    x = torch.randn(3, 3, TILE, TILE)
    with torch.no_grad():
        ref = e['model'].backbone(x)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    got = ort.InferenceSession(str(out), options).run(None, {'input': x.numpy()})
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.shape == tuple(r.shape)
        assert np.abs(g - r.numpy()).max() < 1e-4
    with pytest.raises(ValueError, match='gives features, not class probabilities'):
        OnnxRuntimeAdapter(str(out))
