"""The backbones and their checkpoint filter need only torch and mmengine (they must run on an
accelerator image without mm*)."""

from foundation_testing import run_python


def test_backbone_imports_and_runs_without_other_openmmlab_libraries():
    code = """
import importlib.abc, sys
BLOCKED = ("mmpretrain", "mmseg", "mmdet", "mmrotate", "mmcv")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
import torch
from mmskysense.registry import MODELS
import mmskysense.models
m = MODELS.build(dict(type="SkySenseV2Backbone", arch="tiny"))
out = m(dict(hr=torch.rand(1, 3, 64, 64), s2=torch.rand(1, 2, 10, 16, 16)))
assert set(out) == {"hr", "s2"} and len(out["hr"]) == 4
from mmskysense.models.backbones import checkpoint_filter_fn
s = MODELS.build(dict(type="SkySenseV2SingleModal", arch="tiny", modality="hr"))
s.load_state_dict(checkpoint_filter_fn(dict(state_dict=m.state_dict()), s), strict=True)
assert len(s(torch.rand(1, 3, 64, 64))) == 4
assert not any(k.split(".")[0] in BLOCKED for k in sys.modules)
print("OK")
"""
    assert 'OK' in run_python(code).stdout
