"""Change map of two GeoTIFFs of the same ground at two dates: an alias of
tools/infer_large_scene.py for a change detector (see its --help).

  python tools/infer_change_map.py CONFIG CHECKPOINT DATE1.tif DATE2.tif OUT.tif [options]
"""

import os.path as osp
import runpy
import sys

_TOOL = runpy.run_path(osp.join(osp.dirname(osp.abspath(__file__)), 'infer_large_scene.py'))


def main(argv=None, load_model=None):
    return _TOOL['main'](argv, load_model, task='change', prog=osp.basename(__file__))


if __name__ == '__main__':
    sys.exit(main())
