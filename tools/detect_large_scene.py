"""Objects in a GeoTIFF scene of any size, as GeoJSON polygons in the scene's CRS: an alias of
tools/infer_large_scene.py for a detector (see its --help).

  python tools/detect_large_scene.py CONFIG CHECKPOINT SCENE.tif OUT.geojson [options]
"""

import os.path as osp
import runpy

_TOOL = runpy.run_path(osp.join(osp.dirname(osp.abspath(__file__)), 'infer_large_scene.py'))


def main(argv=None, load_model=None):
    return _TOOL['main'](argv, load_model, task='detection', prog=osp.basename(__file__))


if __name__ == '__main__':
    main()
