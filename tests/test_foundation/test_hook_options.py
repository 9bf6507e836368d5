"""--hook-options sets a field of a custom hook found by its type (tools/train.py, tools/test.py):
the k-NN hook of a recipe is reached wherever it stands in the list, and a type the config does
not have, or has twice, is an error that names it."""

import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from mmskysense.utils import find_hook, merge_hook_options

REPO = Path(__file__).resolve().parents[2]
HR_ITA = REPO / 'configs/skysense_v2/skysense-v2_tiny_1xb8-cpu-800it-hr-ita_geo-demo.py'


def test_a_hook_is_set_by_its_type_wherever_it_stands():
    cfg = Config.fromfile(str(HR_ITA))
    knn = find_hook(cfg, 'KNNEvalHook')
    assert cfg.custom_hooks[knn].type == 'KNNEvalHook'
    # reordered: the same option still reaches the k-NN hook, and only it
    cfg.custom_hooks = cfg.custom_hooks[::-1]
    others = [dict(h) for h in cfg.custom_hooks if h.type != 'KNNEvalHook']
    merge_hook_options(cfg, {'KNNEvalHook.data_root': '/elsewhere', 'KNNEvalHook.interval': 7})
    knn = cfg.custom_hooks[find_hook(cfg, 'mmskysense.KNNEvalHook')]  # a scope is ignored
    assert (knn.data_root, knn.interval, knn.crop_size) == ('/elsewhere', 7, 64)
    assert [dict(h) for h in cfg.custom_hooks if h.type != 'KNNEvalHook'] == others


def test_a_missing_or_repeated_type_is_an_error_naming_it():
    cfg = Config(dict(custom_hooks=[dict(type='A'), dict(type='mmskysense.B'), dict(type='B')]))
    with pytest.raises(KeyError, match=r"hook-options C\.x: custom_hooks has no hook of type 'C'"):
        merge_hook_options(cfg, {'C.x': 1})
    with pytest.raises(KeyError, match=r"2 hooks \(at \[1, 2\]\) of type 'B'"):
        merge_hook_options(cfg, {'B.x': 1})
    with pytest.raises(ValueError, match='expected HookType.field=value'):
        merge_hook_options(cfg, {'A': 1})
    merge_hook_options(cfg, None)  # nothing asked, nothing changed
    assert cfg.custom_hooks[0] == dict(type='A')


def test_train_py_refuses_a_hook_the_config_lacks(tmp_path):
    cfg = tmp_path / 'toy.py'
    cfg.write_text("custom_hooks = [dict(type='TeacherMomentumHook')]\n")
    run = subprocess.run(
        [sys.executable, str(REPO / 'tools/train.py'), str(cfg)]
        + ['--work-dir', str(tmp_path), '--hook-options', 'KNNEvalHook.data_root=x'],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert run.returncode != 0
    assert f'{cfg}: --hook-options KNNEvalHook.data_root: custom_hooks has no hook of type ' in (
        run.stderr
    )
