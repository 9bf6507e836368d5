"""mmrotate 1.0.0rc1 on Python 3.11 with mmdet 3.3.0 (mmskysense.compat.mmrotate_py311).

That Oriented R-CNN then trains and predicts is in test_registry_cross_library.py.
"""

from foundation_testing import run_python


def test_mmrotate_does_not_import_without_the_hook():
    proc = run_python('import mmrotate', check=False)
    assert proc.returncode != 0
    assert 'MMDetection 3.3.0 is incompatible' in proc.stderr


def test_mmrotate_models_import_with_mmskysense_and_versions_are_restored():
    # the patches run only while the modules they mend run: nothing else sees them
    code = """
import collections, collections.abc, sys
import mmskysense
assert "mmrotate" not in sys.modules and not hasattr(collections, "Sequence")
import mmdet
import mmrotate, mmrotate.models
from mmrotate.registry import MODELS
assert mmdet.__version__ == "3.3.0", mmdet.__version__
assert MODELS.get("OrientedRPNHead") is not None
from mmrotate.models.detectors import refine_single_stage
assert refine_single_stage.Sequence is collections.abc.Sequence
assert not hasattr(collections, "Sequence")
print("OK")
"""
    assert 'OK' in run_python(code).stdout


def test_scope_lookup_imports_mmrotate_through_the_hook():
    # mmengine imports `mmrotate.registry` itself when a config names `mmrotate.X`
    code = """
import mmskysense
from mmskysense.registry import TASK_UTILS
coder = TASK_UTILS.build(dict(type="mmrotate.MidpointOffsetCoder", angle_version="le90"))
print(type(coder).__name__)
"""
    assert 'MidpointOffsetCoder' in run_python(code).stdout


def test_rotated_map_evaluation_finishes():
    # eval_rbbox_map (DOTAMetric) starts a spawn pool whose workers cannot import mmrotate
    # without the hook: without the patch this waits forever (here: until the timeout)
    code = """
import numpy as np
import mmskysense
from mmrotate.evaluation import eval_rbbox_map
det = [[np.array([[50., 50., 20., 10., 0.3, 0.9]], dtype=np.float32)]]
gt = [dict(bboxes=np.array([[50., 50., 20., 10., 0.3]], dtype=np.float32), labels=np.array([0]),
           bboxes_ignore=np.zeros((0, 5), dtype=np.float32), labels_ignore=np.zeros(0))]
mean_ap, _ = eval_rbbox_map(det, gt, iou_thr=0.5, nproc=4)
print("mAP", mean_ap)
"""
    assert 'mAP 1.0' in run_python(code, timeout=120).stdout


def test_another_mmrotate_release_is_left_alone():
    code = """
import importlib.metadata
real = importlib.metadata.version
importlib.metadata.version = lambda name: "1.0.0" if name == "mmrotate" else real(name)
import mmskysense
from mmskysense.compat import import_hooks
assert not import_hooks._AROUND
assert not import_hooks._AFTER.get("mmrotate.evaluation.functional.mean_ap")
print("OK")
"""
    assert 'OK' in run_python(code).stdout
