"""The scene tool on a COG served over HTTP and on a STAC item of one-band assets, against the
same local file: bytes the server sent against the files' sizes, peak memory, same output.

Writes a ``--side`` px RGB scene (uint8 noise, which does not compress: the file is about
3 x side^2 bytes) as a tiled COG, and its three bands as one-band COGs with a STAC item
(``eo:bands``), serves the folder on 127.0.0.1 with a server that answers Range requests and
counts bytes (tests/helpers/http_range.py), and runs ``tools/infer_large_scene.py`` (the demo
config's tiny UperNet, random weights) in a fresh process per input: the local file, its URL,
the STAC item's URL. Each process reports its peak resident memory (VmHWM). Also one
40 x 40 px window read of the URL, to show a read fetches its tiles, not the file.

    python benchmarks/bench_remote_inputs.py [--side 1024] [--tile 512]
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CONFIG = os.path.join(REPO, 'configs/demo/upernet_skysense-v2-tiny_1xb4-300it_geo-demo-128x128.py')

CHILD = r"""
import json, sys
a = json.loads(sys.argv[1])
sys.path.insert(0, a['tools'])
import infer_large_scene as cli
cli.main(a['argv'])
status = open('/proc/self/status').read().split('\n')
print('PEAK_KB', next(int(l.split()[1]) for l in status if l.startswith('VmHWM')))
"""


def _server():
    path = os.path.join(REPO, 'tests', 'helpers', 'http_range.py')
    spec = importlib.util.spec_from_file_location('http_range', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.RangeServer


def write_cog(path, data, block):
    import rasterio
    from rasterio.transform import from_origin

    count, h, w = data.shape
    with rasterio.open(
        path, 'w', driver='COG', height=h, width=w, count=count, dtype=data.dtype,
        crs='EPSG:32633', transform=from_origin(400000.0, 5000000.0, 0.5, 0.5), nodata=0,
        blocksize=block, overviews='NONE', compress='DEFLATE',
    ) as dst:  # fmt: skip
        dst.write(data)
    return path


def write_inputs(folder, side, block):
    rng = np.random.default_rng(0)
    rgb = rng.integers(1, 255, (3, side, side), dtype=np.uint8)
    write_cog(os.path.join(folder, 'scene.tif'), rgb, block)
    assets = {}
    for i, (name, common) in enumerate((('B04', 'red'), ('B03', 'green'), ('B02', 'blue'))):
        href = f'item_{name}.tif'
        write_cog(os.path.join(folder, href), rgb[i : i + 1], block)
        assets[common] = {'href': href, 'type': 'image/tiff; application=geotiff',
                          'eo:bands': [dict(name=name, common_name=common)]}  # fmt: skip
    eo = 'https://stac-extensions.github.io/eo/v1.1.0/schema.json'
    item = dict(type='Feature', stac_version='1.0.0', id='item', geometry=None, links=[],
                properties=dict(datetime='2021-08-05T10:30:00Z'), assets=assets,
                stac_extensions=[eo])  # fmt: skip
    with open(os.path.join(folder, 'item.json'), 'w') as f:
        json.dump(item, f)


def checkpoint(path):
    import torch
    from mmengine.config import Config

    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    meta = dict(dataset_meta=dict(classes=list(cfg.class_names)))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return path


def run(args, ckpt, inputs, out, extra=()):
    argv = [CONFIG, ckpt, *inputs, out, '--tile', str(args.tile), '--overlap', '64', '--quiet',
            '--no-preview', '--gdal-cache-mb', '16', '--cfg-options',
            'model.backbone.init_cfg=None', *extra]  # fmt: skip
    payload = json.dumps(dict(tools=os.path.join(REPO, 'tools'), argv=argv))
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, '-c', CHILD, payload], capture_output=True, text=True,
                          env=env)  # fmt: skip
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    peak = next(
        int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith('PEAK_KB')
    )
    return peak / 1024, proc.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--side', type=int, default=1024)
    p.add_argument('--tile', type=int, default=512)
    p.add_argument('--block', type=int, default=256, help='COG tile side')
    args = p.parse_args()
    import rasterio

    from mmskysense.datasets.raster import RemoteOptions, open_raster, read_window

    with tempfile.TemporaryDirectory() as tmp:
        write_inputs(tmp, args.side, args.block)
        ckpt = checkpoint(os.path.join(tmp, 'seg.pth'))
        size = os.path.getsize(os.path.join(tmp, 'scene.tif'))
        bands_size = sum(
            os.path.getsize(os.path.join(tmp, f'item_{b}.tif')) for b in ('B04', 'B03', 'B02')
        )
        with _server()(tmp) as server:
            server.reset()
            with RemoteOptions().env(), open_raster(server.url('scene.tif')) as src:
                read_window(src, [1, 2, 3], (300, 340), (300, 340))
            window_bytes = server.bytes_sent
            print(
                f'RESULT window_read: 40 x 40 px of a {size / 2**20:.2f} MiB COG ({args.block} '
                f'px tiles): {window_bytes} bytes served, {window_bytes / size:.4f} of the file'
            )
            outs, peaks = {}, {}
            for kind, inputs, extra in (
                ('local', [os.path.join(tmp, 'scene.tif')], []),
                ('http', [server.url('scene.tif')], []),
                ('stac', [server.url('item.json')], ['--stac-bands', 'red,green,blue']),
            ):
                server.reset()
                outs[kind] = os.path.join(tmp, f'{kind}.tif')
                peaks[kind], stdout = run(args, ckpt, inputs, outs[kind], extra)
                sent = server.bytes_sent
                total = {'local': size, 'http': size, 'stac': bands_size}[kind]
                print(f'RESULT {kind}: peak {peaks[kind]:.1f} MiB, bytes served {sent} of '
                      f'{total} in the file(s) ({sent / total:.3f} x)')  # fmt: skip
                for line in stdout.splitlines():
                    if line.startswith(('class map', 'hr:')):
                        print(f'  {line}')
        with rasterio.open(outs['local']) as a:
            ref = a.read()
        for kind in ('http', 'stac'):
            with rasterio.open(outs[kind]) as b:
                same = bool((b.read() == ref).all())
            print(f'RESULT {kind}_vs_local: same output {same}; peak ratio '
                  f'{peaks[kind] / peaks["local"]:.3f}')  # fmt: skip


if __name__ == '__main__':
    main()
