"""The backbone needs only torch and mmengine (it must run on an accelerator image without mm*)."""

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
assert not any(k.split(".")[0] in BLOCKED for k in sys.modules)
print("OK")
"""
    assert 'OK' in run_python(code).stdout
