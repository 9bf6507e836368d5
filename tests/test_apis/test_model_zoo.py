"""Models by name (docs/interfaces.md, Models by name): ``list_models`` over every config,
``get_model`` building each (the huge ones on the meta device) and loading checkpoints through the
one loader, ``inference_model`` against mmseg's / mmpretrain's own predict paths."""

import os
import os.path as osp
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

import mmskysense
from mmskysense.utils import package_data

ROOT = Path(__file__).resolve().parents[2]
POTSDAM = 'upernet_skysense-v2-huge_4xb4-40k_potsdam-512x512'
LEVIR = 'bit_skysense-v2-huge_8xb4-40k_levir-cd-256x256'
AID = 'linear_skysense-v2-huge_2xb32-20k_aid-tr20'
TINY = [32, 64, 128, 256]  # stage widths of the tiny arch
TINY_UPER = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.0),
    decode_head=dict(in_channels=TINY, channels=32),
    auxiliary_head=dict(in_channels=TINY[2], channels=16),
)


def config_files() -> dict[str, str]:
    """Every config but the _base_ ones, found by walking the folder (not by the code tested)."""
    found = {}
    for folder, dirs, files in os.walk(ROOT / 'configs'):
        dirs[:] = [d for d in dirs if d != '_base_']
        for f in files:
            if f.endswith('.py'):
                found[f[:-3]] = osp.join(folder, f)
    return found


def test_list_models_names_every_config_once():
    names = mmskysense.list_models()
    assert names == sorted(config_files())
    assert len(names) == len(set(names)) >= 40
    assert mmskysense.list_models('levir') == [LEVIR, LEVIR + '_tile-test']
    assert mmskysense.list_models('upernet_*potsdam*') == [POTSDAM]
    assert mmskysense.list_models('no-such-model') == []


def test_get_model_builds_every_config_on_the_meta_device(tmp_path):
    # the ITA head of the pretraining recipes reads a text-embedding file (K x D)
    emb = tmp_path / 'text.pth'
    for name, path in sorted(config_files().items()):
        cfg = Config.fromfile(path)
        options = {}
        if cfg.model.get('ita_head'):
            k = cfg.model.ita_head.loss.get('num_classes') or 16
            torch.save(
                dict(class_names=[f'c{i}' for i in range(k)], embeddings=torch.randn(k, 8)), emb
            )
            options['ita_head'] = dict(loss=dict(text_embeddings=str(emb)))
        model = mmskysense.get_model(name, device='meta', **options)
        params = list(model.parameters())
        assert params and all(p.device.type == 'meta' for p in params), name
        assert type(model).__name__ == cfg.model.type.split('.')[-1], name
        assert not model.training, name
        assert model.cfg.filename == path, name


def test_get_model_loads_a_checkpoint_through_the_one_loader(tmp_path):
    torch.manual_seed(0)
    trained = mmskysense.get_model(POTSDAM, **TINY_UPER)
    classes = ['a', 'b', 'c', 'd', 'e', 'f']
    ckpt = tmp_path / 'tiny.pth'
    torch.save(
        dict(state_dict=trained.state_dict(), meta=dict(dataset_meta=dict(classes=classes))), ckpt
    )
    fresh = mmskysense.get_model(POTSDAM, **TINY_UPER)
    loaded = mmskysense.get_model(POTSDAM, pretrained=str(ckpt), **TINY_UPER)
    sd, fresh_sd = trained.state_dict(), fresh.state_dict()
    key = 'backbone.stages.0.blocks.0.attn.qkv.weight'
    if key not in sd:
        key = next(k for k, v in sd.items() if v.dim() == 2)
    assert (sd[key] - fresh_sd[key]).abs().max() > 1e-3  # a fresh build differs
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, sd[k]), k
    assert loaded.dataset_meta['classes'] == classes
    # a checkpoint of another width does not fit: an error, not a partial load
    with pytest.raises(Exception, match='shape|size'):
        mmskysense.get_model(
            POTSDAM,
            pretrained=str(ckpt),
            backbone=dict(arch='small'),
            decode_head=dict(in_channels=[96, 192, 384, 768]),
            auxiliary_head=dict(in_channels=384),
        )


def test_get_model_errors_name_what_is_wrong():
    with pytest.raises(KeyError, match='did you mean'):
        mmskysense.get_model('upernet_skysense-v2-huge_4xb4-40k_potsdam')
    with pytest.raises(ValueError, match='publishes no weights'):
        mmskysense.get_model(POTSDAM, pretrained=True, device='meta')
    with pytest.raises(TypeError, match='pretrained'):
        mmskysense.get_model(POTSDAM, pretrained=3)
    with pytest.raises(ValueError, match='meta device'):
        mmskysense.get_model(POTSDAM, pretrained='x.pth', device='meta')


def _segmentor_reference(model, image: np.ndarray) -> torch.Tensor:
    """mmseg's own predict path (not the scene adapter): softmax of ``seg_logits``."""
    from mmseg.structures import SegDataSample

    h, w = image.shape[-2:]
    sample = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
    with torch.no_grad():
        data = model.data_preprocessor(
            dict(inputs=[torch.from_numpy(image.copy())], data_samples=[sample]), False
        )
        out = model.predict(data['inputs'], data['data_samples'])
    return out[0].seg_logits.data.softmax(0)


def test_inference_model_segmentor_matches_mmseg_predict():
    torch.manual_seed(0)
    model = mmskysense.get_model(POTSDAM, **TINY_UPER, data_preprocessor=dict(size=None))
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (3, 64, 64), dtype=np.uint8)
    result = mmskysense.inference_model(model, rgb)
    assert result['task'] == 'segmentation' and len(result['classes']) == 6
    assert result['probs'].shape == (6, 64, 64) and result['class_map'].shape == (64, 64)
    # Potsdam's model was trained on OpenCV's BGR images: its bands are the file's [3, 2, 1]
    ref = _segmentor_reference(model, rgb[::-1]).numpy()
    np.testing.assert_allclose(result['probs'], ref, atol=1e-5)
    assert (result['class_map'] == ref.argmax(0)).all()
    # the band order reaches the model: the RGB image as it is gives other probabilities
    assert np.abs(_segmentor_reference(model, rgb).numpy() - result['probs']).max() > 1e-3


def test_inference_model_change_pair():
    torch.manual_seed(0)
    model = mmskysense.get_model(
        LEVIR,
        backbone=dict(arch='tiny', drop_path_rate=0.0),
        decode_head=dict(in_channels=[2 * c for c in TINY]),
    )
    rng = np.random.default_rng(1)
    a, b = (rng.integers(0, 256, (3, 64, 64), dtype=np.uint8) for _ in range(2))
    pair = mmskysense.inference_model(model, (a, b))
    assert pair['task'] == 'change' and pair['probs'].shape == (2, 64, 64)
    stacked = mmskysense.inference_model(model, np.stack([a, b]))
    np.testing.assert_array_equal(pair['probs'], stacked['probs'])
    swapped = mmskysense.inference_model(model, (b, a))
    assert np.abs(swapped['probs'] - pair['probs']).max() > 1e-4
    with pytest.raises(ValueError, match='pair'):
        mmskysense.inference_model(model, (a, b, a))


def test_inference_model_classifier_matches_mmpretrain_predict():
    from mmpretrain.structures import DataSample

    torch.manual_seed(0)
    model = mmskysense.get_model(
        AID, backbone=dict(arch='tiny', drop_path_rate=0.0), head=dict(in_channels=TINY[-1])
    )
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (3, 64, 64), dtype=np.uint8)
    result = mmskysense.inference_model(model, torch.from_numpy(rgb))
    with torch.no_grad():
        data = model.data_preprocessor(
            dict(inputs=[torch.from_numpy(rgb[::-1].copy())], data_samples=[DataSample()]), False
        )
        ref = model.predict(data['inputs'], data['data_samples'])[0].pred_score.numpy()
    assert result['task'] == 'classification' and result['scores'].shape == (30,)
    np.testing.assert_allclose(result['scores'], ref, atol=1e-6)
    assert result['pred_label'] == int(ref.argmax())
    assert result['classes'][result['pred_label']] == result['classes'][int(ref.argmax())]


def test_inference_model_refuses_bad_inputs(tmp_path):
    torch.manual_seed(0)
    model = mmskysense.get_model(POTSDAM, **TINY_UPER)
    with pytest.raises(ValueError, match='bands'):
        mmskysense.inference_model(model, np.zeros((2, 32, 32), np.float32))
    with pytest.raises(ValueError, match='C x H x W'):
        mmskysense.inference_model(model, np.zeros((32, 32), np.float32))
    bad = np.zeros((3, 32, 32), np.float32)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        mmskysense.inference_model(model, bad)
    with pytest.raises(KeyError, match='no input'):
        mmskysense.inference_model(model, dict(s2=np.zeros((3, 32, 32), np.float32)))
    with pytest.raises(TypeError, match='numpy array'):
        mmskysense.inference_model(model, [[1, 2]])
    meta_model = mmskysense.get_model(POTSDAM, device='meta')
    with pytest.raises(ValueError, match='meta device'):
        mmskysense.inference_model(meta_model, np.zeros((3, 32, 32), np.float32))
    pretrain = mmskysense.get_model('skysense-v2_tiny_1xb32-cpu-1000it-ssl_aid')
    with pytest.raises(TypeError, match='pretraining'):
        mmskysense.inference_model(pretrain, np.zeros((3, 32, 32), np.float32))


def test_configs_are_found_in_an_installed_package(tmp_path, monkeypatch):
    """An install has no clone around it: configs and the model index come from mmskysense/.mim."""
    mim = tmp_path / '.mim'
    shutil.copytree(ROOT / 'configs', mim / 'configs')
    shutil.copy(ROOT / 'model-index.yml', mim / 'model-index.yml')
    monkeypatch.setattr(package_data, 'MIM_DIR', str(mim))
    monkeypatch.setattr(package_data, 'CLONE_DIR', str(tmp_path / 'no-clone'))
    assert mmskysense.list_models() == sorted(config_files())
    model = mmskysense.get_model(POTSDAM, device='meta')
    assert model.cfg.filename == str(mim / 'configs' / 'skysense_v2_seg' / f'{POTSDAM}.py')
    shutil.rmtree(mim)
    with pytest.raises(FileNotFoundError, match='no configs folder'):
        mmskysense.list_models()


def test_a_built_package_ships_configs_tools_and_the_model_index(tmp_path):
    """setup.py's build_py (what a wheel is made of) copies them into mmskysense/.mim."""
    build = tmp_path / 'build'
    subprocess.run(
        [sys.executable, 'setup.py', '-q', 'build_py', '--build-lib', str(build)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    mim = build / 'mmskysense' / '.mim'
    assert (mim / 'model-index.yml').read_text() == (ROOT / 'model-index.yml').read_text()
    assert (mim / 'tools' / 'train.py').is_file()
    shipped = {p.stem for p in (mim / 'configs').glob('*/*.py') if p.parent.name != '_base_'}
    assert shipped == set(config_files())
    assert not list(mim.rglob('__pycache__'))


def test_inference_model_multimodal_with_days_of_year():
    torch.manual_seed(0)
    model = mmskysense.get_model(
        'upernet_skysense-v2-huge_4xb4-40k_dyna-mm-planet-s2-512x512',
        backbone=dict(arch='tiny', drop_path_rate=0.0),
        fusion_neck=dict(
            in_channels=TINY,
            fusion=dict(embed_dims=64, num_heads=4, num_layers=1, init_cfg=None),
        ),
        decode_head=dict(in_channels=TINY[:3] + [64], channels=32),
        auxiliary_head=dict(in_channels=TINY[2], channels=16),
    )
    rng = np.random.default_rng(3)
    hr = rng.integers(0, 256, (3, 64, 64), dtype=np.uint8)
    s2 = rng.integers(0, 5000, (4, 13, 16, 16)).astype(np.uint16)  # 4 dates, 13 bands, 1/4 grid
    plain = mmskysense.inference_model(model, dict(hr=hr, s2=s2))
    assert plain['probs'].shape == (6, 64, 64)
    # the fusion encodes the dates' days of year: they reach the model
    dated = mmskysense.inference_model(model, dict(hr=hr, s2=s2), doy=dict(s2=[15, 46, 74, 105]))
    assert np.abs(dated['probs'] - plain['probs']).max() > 1e-3
    # S2 left out is masked, not zeros fed as data
    alone = mmskysense.inference_model(model, dict(hr=hr))
    assert np.abs(alone['probs'] - plain['probs']).max() > 1e-3
    with pytest.raises(ValueError, match='scale'):
        mmskysense.inference_model(model, dict(hr=hr, s2=s2[..., :8, :8]))
    with pytest.raises(ValueError, match='days of year'):
        mmskysense.inference_model(model, dict(hr=hr, s2=s2), doy=dict(s2=[15, 46]))
    with pytest.raises(KeyError, match='days of year'):
        mmskysense.inference_model(model, dict(hr=hr), doy=dict(s2=[15, 46, 74, 105]))
    with pytest.raises(TypeError, match='dict of modalities'):
        mmskysense.inference_model(model, hr)


def test_inference_model_gives_the_scene_engines_class_map(tmp_path):
    """One image through inference_model and through segment_geotiff (one tile): one map."""
    import rasterio
    from helpers.geotiff import write_geotiff

    from mmskysense.apis import segment_geotiff

    torch.manual_seed(0)
    model = mmskysense.get_model(POTSDAM, **TINY_UPER, data_preprocessor=dict(size=None))
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (3, 64, 64), dtype=np.uint8)
    path = write_geotiff(tmp_path / 'scene.tif', rgb)
    out = segment_geotiff(
        model, path, str(tmp_path / 'map.tif'), 6, tile=64, overlap=0, progress=False
    )
    with rasterio.open(out) as src:
        scene_map = src.read(1)
    from_array = mmskysense.inference_model(model, rgb)
    from_path = mmskysense.inference_model(model, path)
    np.testing.assert_array_equal(from_path['probs'], from_array['probs'])
    assert (from_array['class_map'] == scene_map).all()
    assert len(np.unique(scene_map)) > 1  # a map, not one class everywhere
