"""Evidence that the one scene engine (tools/infer_large_scene.py) writes valid, georeferenced
products for every task kind of the paper.

usage: python tools/misc/scene_engine_evidence.py OUT_DIR

Generates a small scene (``generate_sample``: a GeoTIFF in UTM 33N), builds each task kind's
model from its config shrunk to the tiny backbone with random weights (the tests' shrinkers,
``tests/test_*/*_tiny.py``): scene classification (AID), segmentation (Potsdam), horizontal
(DIOR) and oriented (DIOR-R) detection, binary (LEVIR-CD) and semantic (DynamicEarthNet S2 SCS)
change detection, and a multi-modal Table 3 model (BigEarthNet-MM S2 + S1, its config's
``scene_inputs``, one input per modality). Runs each through ``tools/infer_large_scene.py``'s
``main`` (``--vector`` for a class map and a change map, ``--embeddings`` and
``--embeddings-raster`` for the segmentor),
then checks every output: its CRS and transform are the scene's (rasterio, pyogrio; an
embedding raster: the scene's CRS and origin, one pixel per tile), ``gdalinfo`` / ``ogrinfo -al
-so`` open it, and a GeoTIFF is a valid COG (``rio cogeo validate`` where rio-cogeo is
installed, else GDAL's ``validate_cloud_optimized_geotiff``, else ``LAYOUT=COG`` in gdalinfo's
IMAGE_STRUCTURE metadata). Prints one line per task kind and output; exits 1 on any failure.
"""

import argparse
import contextlib
import importlib.util
import io
import os
import os.path as osp
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / 'tests')]  # the tests' config shrinkers (tests/helpers)

#: (task kind, shrinker module, dataset, inputs, options, outputs); an input 'hr' is the scene,
#: 'hr2' its second date, 'ms:N' an N-band uint16 raster on the scene's grid (and 'ms2:N')
KINDS = (
    ('scene classification', 'test_downstream/downstream_tiny', 'aid', ['hr'], [], ['map']),
    (
        'segmentation',
        'test_downstream/downstream_tiny',
        'potsdam',
        ['hr'],
        ['--confidence', '--vector', '{vector}', '--embeddings', '{emb}'],
        ['map', 'vector', 'emb', 'emb_raster'],
    ),
    ('horizontal detection', 'test_detection/det_tiny', 'dior', ['hr'], [], ['boxes']),
    ('oriented detection', 'test_detection/det_tiny', 'dior_r', ['hr'], [], ['boxes']),
    (
        'binary change detection',
        'test_change_detection/cd_tiny',
        'levir_cd',
        ['hr', 'hr2'],
        ['--vector', '{vector}'],
        ['map', 'vector'],
    ),
    (
        'semantic change detection',
        'test_change_detection/cd_tiny',
        'dynearthnet_s2_scs',
        None,  # from the model's scene spec
        [],
        ['map'],
    ),
)
DET_OPTIONS = ['--score-thr', '0.0', '--cfg-options', 'model.test_cfg.rcnn.max_per_img=10']


def make_scene(folder: str) -> dict[str, str]:
    """The scene (hr.tif of a generated sample, 3-band uint8, UTM 33N) and its second date."""
    import rasterio

    from mmskysense.datasets.geo.synthetic import generate_sample

    sample = generate_sample(folder, np.random.default_rng(0), hr_size=256, num_s2_dates=1)
    hr = osp.join(sample['folder'], 'hr.tif')
    with rasterio.open(hr) as src:
        data, profile = src.read(), src.profile
    data[:, 64:128, 64:160] = 255 - data[:, 64:128, 64:160]  # a changed area
    hr2 = osp.join(folder, 'hr2.tif')
    with rasterio.open(hr2, 'w', **profile) as dst:
        dst.write(data)
    return dict(hr=hr, hr2=hr2)


def extra_raster(scene: str, folder: str, name: str, bands: int) -> str:
    """A ``bands``-band uint16 raster on the scene's grid (an S2-like input)."""
    import rasterio

    path = osp.join(folder, f'{name}_{bands}.tif')
    if osp.exists(path):
        return path
    with rasterio.open(scene) as src:
        profile, rgb = src.profile, src.read().astype(np.uint16)
    profile.update(count=bands, dtype='uint16', nodata=0)
    data = np.stack([rgb[b % 3] * 16 + 100 * b + (name == 'ms2') * 500 for b in range(bands)])
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(data.astype(np.uint16))
    return path


def spec_inputs(cfg, scene: str, folder: str, task: str) -> list[str]:
    """The CLI inputs of a model on the scene: rasters with its reference input's bands (the
    highest band it reads), one per date."""
    from mmskysense.apis.scene import scene_spec

    ref = scene_spec(cfg, None, task).reference
    n = max(ref.bands) if ref.bands else ref.channels or 3
    dates = ref.num_dates or 1
    return [extra_raster(scene, folder, f'ms{d + 1}' if d else 'ms', n) for d in range(dates)]


def gdal(*cmd: str) -> subprocess.CompletedProcess | None:
    if shutil.which(cmd[0]) is None:
        return None
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def cog_check(path: str) -> str:
    """'COG ok (how)' or 'COG FAIL (how: why)'."""
    if importlib.util.find_spec('rio_cogeo') is not None:
        from rio_cogeo.cogeo import cog_validate

        valid, errors, _ = cog_validate(path, quiet=True)
        return f'COG {"ok" if valid else "FAIL"} (rio cogeo{"" if valid else ": " + str(errors)})'
    proc = None
    if osp.exists('/usr/bin/python3'):  # GDAL's own validator, with the system's GDAL bindings
        module = 'osgeo_utils.samples.validate_cloud_optimized_geotiff'
        proc = subprocess.run(
            ['/usr/bin/python3', '-m', module, '-q', path],
            capture_output=True,
            text=True,
            check=False,
        )
        if 'No module named' not in proc.stderr:
            why = (proc.stdout + proc.stderr).strip().replace('\n', ' ')[:200]
            ok = proc.returncode == 0
            how = 'GDAL validate_cloud_optimized_geotiff' + ('' if ok else f': {why}')
            return f'COG {"ok" if ok else "FAIL"} ({how})'
    info = gdal('gdalinfo', path)
    if info is None:
        return 'COG not checked (neither rio-cogeo nor GDAL found)'
    ok = 'LAYOUT=COG' in info.stdout
    return f'COG {"ok" if ok else "FAIL"} (gdalinfo LAYOUT=COG)'


def check_raster(path: str, scene: str, cell: bool = False) -> tuple[bool, str]:
    import rasterio

    with rasterio.open(scene) as ref, rasterio.open(path) as out:
        same_crs = out.crs == ref.crs
        if cell:  # one pixel per tile, from the scene's origin
            t, r = out.transform, ref.transform
            grid = (t.c, t.f) == (r.c, r.f) and t.a > r.a
            where = 'origin'
        else:
            grid = out.transform == ref.transform and out.shape == ref.shape
            where = 'transform'
    info = gdal('gdalinfo', path)
    opened = 'gdalinfo not found' if info is None else f'gdalinfo rc {info.returncode}'
    cog = cog_check(path)
    ok = same_crs and grid and (info is None or info.returncode == 0) and 'FAIL' not in cog
    return ok, f'CRS {same_crs}, {where} {grid}, {opened}, {cog}'


def check_vector(path: str, scene: str) -> tuple[bool, str]:
    import pyogrio
    import rasterio

    info_ = pyogrio.read_info(path)
    with rasterio.open(scene) as ref:
        same_crs = rasterio.crs.CRS.from_user_input(info_['crs']) == ref.crs
    info = gdal('ogrinfo', '-al', '-so', path)
    opened = 'ogrinfo not found' if info is None else f'ogrinfo -al -so rc {info.returncode}'
    ok = same_crs and info_['features'] > 0 and (info is None or info.returncode == 0)
    return ok, f'{info_["features"]} features, CRS {same_crs}, {opened}'


def tiny_model_config(kind: tuple, folder: str):
    _, module, name, *_ = kind
    from helpers.modules import load_module

    shrinker = load_module(osp.basename(module), REPO / 'tests' / f'{module}.py')
    work = osp.join(folder, 'work')
    if module.endswith('det_tiny'):
        return shrinker.tiny_config(name, folder, work, size=128)
    return shrinker.tiny_config(name, folder, work)


def run_multimodal(out_dir: str, cli, name: str = 'ben_s2_s1') -> list[tuple[bool, str]]:
    """A Table 3 row (BigEarthNet-MM S2 + S1, the tiny backbone, random weights) over S2 and S1
    rasters of one ground, through the CLI with one input per modality."""
    import rasterio
    import torch
    from mmengine.model import revert_sync_batchnorm
    from rasterio.transform import from_origin

    from mmskysense.registry import MODELS

    tiny = _tests_module('test_multimodal/mm_tiny')
    folder = osp.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    cfg = tiny.tiny_model_config(name, osp.join(folder, 'work'))
    config = osp.join(folder, f'tiny_{name}.py')
    cfg.dump(config)
    rng = np.random.default_rng(0)
    files = {}
    # 64 x 64 px at 10 m in UTM 31N; S2 reflectance (uint16, 0 = no data), S1 dB (NaN)
    for mod, data, nodata in (
        ('s2', rng.integers(1, 4000, (10, 64, 64)).astype(np.uint16), 0),
        ('s1', rng.normal(-15, 4, (2, 64, 64)).astype(np.float32), float('nan')),
    ):
        files[mod] = osp.join(folder, f'{mod}.tif')
        with rasterio.open(
            files[mod], 'w', driver='GTiff', count=data.shape[0], height=64, width=64,
            dtype=data.dtype, crs='EPSG:32631', transform=from_origin(500000.0, 4600000.0, 10, 10),
            nodata=nodata,
        ) as dst:  # fmt: skip
            dst.write(data)
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    meta = dict(classes=[f'c{k}' for k in range(model.head.num_classes)])
    out = osp.join(folder, f'{name}.tif')
    argv = [config, 'random-weights', f's2={files["s2"]}', f's1={files["s1"]}', out,
            '--tile', '32', '--overlap', '0', '--quiet', '--no-preview']  # fmt: skip
    title = 'multi-modal (Table 3)'
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            cli.main(argv, load_model=lambda *a: (model, meta))
    except BaseException as err:  # SystemExit included: the CLI's refusals
        detail = ''.join(traceback.format_exception_only(type(err), err)).strip()
        return [(False, f'{title:<26} ({name}): the CLI failed: {detail[-400:]}')]
    ok, what = check_raster(out, files['s2'])
    return [(ok, f'{title + " [classification]":<42} {osp.basename(out):<30} {what}')]


def _tests_module(name: str):
    spec = importlib.util.spec_from_file_location(osp.basename(name), REPO / 'tests' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_kind(kind: tuple, out_dir: str, scene: dict[str, str], cli) -> list[tuple[bool, str]]:
    import torch

    from mmskysense.apis import init_model
    from mmskysense.apis.scene import task_of

    title, module, name, inputs, options, products = kind
    folder = osp.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    cfg = tiny_model_config(kind, folder)
    config = osp.join(folder, f'tiny_{name}.py')
    cfg.dump(config)
    task = task_of(cfg)
    ext = '.geojson' if task == 'detection' else '.tif'
    paths = dict(
        map=osp.join(folder, f'{name}{ext}'),
        boxes=osp.join(folder, f'{name}{ext}'),
        vector=osp.join(folder, f'{name}_polygons.gpkg'),
        emb=osp.join(folder, f'{name}_embeddings.gpkg'),
        emb_raster=osp.join(folder, f'{name}_embeddings.tif'),
    )
    if inputs:
        args = [scene[i] for i in inputs]
    else:
        args = spec_inputs(cfg, scene['hr'], osp.join(out_dir, 'scene'), task)
    argv = [config, 'random-weights', *args, paths['map'], '--quiet', '--no-preview']
    argv += ['--tile', '128', '--overlap', '32'] if task != 'classification' else []
    argv += DET_OPTIONS if task == 'detection' else []
    argv += [o.format(**paths) for o in options]
    if 'emb_raster' in products:
        argv += ['--embeddings-raster', paths['emb_raster']]

    def random_model(cfg, checkpoint, device):
        torch.manual_seed(0)
        return init_model(cfg, None, device)

    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            cli.main(argv, load_model=random_model)
    except BaseException as err:  # SystemExit included: the CLI's refusals
        detail = ''.join(traceback.format_exception_only(type(err), err)).strip()
        return [(False, f'{title:<26} ({name}, {task}): the CLI failed: {detail[-400:]}')]
    lines = []
    for product in products:
        path = paths[product]
        if not osp.exists(path):
            lines.append((False, f'{title:<26} {osp.basename(path)}: not written'))
            continue
        if path.endswith('.tif'):
            ok, what = check_raster(path, args[0], cell=product == 'emb_raster')
        else:
            ok, what = check_vector(path, args[0])
        label = f'{title} [{task}]'
        lines.append((ok, f'{label:<42} {osp.basename(path):<30} {what}'))
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir')
    args = parser.parse_args(argv)
    from helpers.modules import load_module

    from mmskysense.utils import register_all_modules

    register_all_modules()
    cli = load_module('infer_large_scene', REPO / 'tools' / 'infer_large_scene.py')
    os.makedirs(args.out_dir, exist_ok=True)
    scene = make_scene(osp.join(args.out_dir, 'scene'))
    print(f'scene: {scene["hr"]} (second date: {scene["hr2"]})')
    for tool in ('gdalinfo', 'ogrinfo'):
        if shutil.which(tool) is None:
            print(f'note: {tool} not found: its checks are skipped')
    results = []
    for kind in KINDS:
        for ok, line in run_kind(kind, args.out_dir, scene, cli):
            results.append(ok)
            print(f'{"ok  " if ok else "FAIL"} {line}', flush=True)
    for ok, line in run_multimodal(args.out_dir, cli):
        results.append(ok)
        print(f'{"ok  " if ok else "FAIL"} {line}', flush=True)
    print(f'{sum(results)} / {len(results)} checks passed')
    return 0 if all(results) else 1


if __name__ == '__main__':
    sys.exit(main())
