"""Every Table 3 config (configs/skysense_v2_mm/, at the tiny backbone) runs over a scene of
co-registered rasters of its modalities: its ``scene_inputs`` (bands, dates, scaling) through
``tools/infer_large_scene.py``; the output is on the reference input's grid; a modality left
out is masked as in training (a different output than giving it, the same as giving it with no
data)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

_spec = importlib.util.spec_from_file_location('mm_tiny', Path(__file__).with_name('mm_tiny.py'))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

CRS, X0, Y0 = 'EPSG:32631', 500000.0, 4600000.0
GROUND = 320.0  # metres of every scene: 32 px of S2 at 10 m
# the modality each multi-modal row leaves out (not its reference)
LEFT_OUT = {
    'dyna_planet_s2': 's2',
    'dyna_planet_s2_s1': 's1',
    'pastis_s2ts_s1ts': 's1',
    'pastis_s2ts_gep': 'hr',
    'ben_s2_s1': 's1',
}


def _load_cli():
    path = tiny.ROOT / 'tools' / 'infer_large_scene.py'
    spec = importlib.util.spec_from_file_location('infer_large_scene', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cli = _load_cli()


def _write(path: Path, data: np.ndarray, gsd: float, nodata, dates=None) -> str:
    profile = dict(
        driver='GTiff',
        count=data.shape[0],
        height=data.shape[1],
        width=data.shape[2],
        dtype=data.dtype,
        crs=CRS,
        transform=from_origin(X0, Y0, gsd, gsd),
        nodata=nodata,
    )
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(data)
        if dates:
            dst.update_tags(ACQUISITION_DATES=','.join(dates))
    return str(path)


def _rasters(family: str, folder: Path, rng, empty: bool = False) -> dict[str, str]:
    """Every modality of the family over the same ground (``empty``: all no data)."""
    folder.mkdir(parents=True, exist_ok=True)
    dates = ['2021-03-05', '2021-04-10', '2021-05-12']
    # (gsd, bands per date, dates, dtype, nodata, value range) per modality
    kinds = {
        'dyna': dict(hr=(5.0, 4, None), s2=(20.0, 12, dates[:2]), s1=(20.0, 2, dates[:2])),
        'pastis': dict(hr=(1.25, 3, None), s2=(10.0, 10, dates), s1=(10.0, 3, dates)),
        'ben': dict(s2=(10.0, 10, None), s1=(10.0, 2, None)),
    }[family]
    out = {}
    for name, (gsd, bands, when) in kinds.items():
        size = int(GROUND / gsd)
        shape = (bands * len(when or [0]), size, size)
        if name == 's1':
            data = rng.normal(-15, 4, shape).astype(np.float32)
            nodata = float('nan')
        else:
            high = 255 if name == 'hr' else 4000
            data = rng.integers(1, high, shape).astype(np.uint8 if name == 'hr' else np.uint16)
            nodata = 0
        if empty:
            data[:] = nodata
        out[name] = _write(folder / f'{name}.tif', data, gsd, nodata, when)
    return out


def _norm_files(folder: Path) -> dict[str, dict]:
    """PASTIS's NORM_<sat>_patch.json (per fold mean / std) for the scene's series."""
    norms = {}
    for name, sat, channels, mean, std in (('s2', 'S2', 10, 1500.0, 900.0),
                                           ('s1', 'S1A', 3, -12.0, 5.0)):  # fmt: skip
        stats = {f'Fold_{k}': dict(mean=[mean + k] * channels, std=[std] * channels)
                 for k in range(1, 6)}  # fmt: skip
        path = folder / f'NORM_{sat}_patch.json'
        path.write_text(json.dumps(stats))
        norms[name] = dict(file=str(path), folds=[1, 2, 3])
    return norms


class _Collect:
    """A sink keeping every tile's probabilities."""

    def __init__(self):
        self.out = []

    def add(self, batch, outputs):
        self.out.append(outputs)

    def finish(self):
        return torch.cat(self.out)

    def abort(self):
        pass


@pytest.mark.parametrize('name', sorted(tiny.CONFIGS))
def test_table3_config_over_a_scene(name, tmp_path, capsys):
    from mmengine.model import revert_sync_batchnorm

    from mmskysense.apis.scene import build_adapter, contract_from_config, run_tiles
    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    fam = tiny.family(name)
    cfg = tiny.tiny_model_config(name, str(tmp_path / 'work'))
    if fam == 'pastis':
        for m, norm in _norm_files(tmp_path).items():
            cfg.scene_inputs[m]['norm'] = norm
    cfg_path = tmp_path / f'{name}.py'
    cfg.dump(str(cfg_path))
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    head = model.decode_head if hasattr(model, 'decode_head') else model.head
    meta = dict(classes=[f'c{k}' for k in range(head.num_classes)])
    rng = np.random.default_rng(0)
    files = _rasters(fam, tmp_path / 'scene', rng)
    empty = _rasters(fam, tmp_path / 'empty', rng, empty=True)
    modalities = list(cfg.modalities)
    tile = '32' if fam != 'dyna' else '64'

    def argv(given: dict, out: str) -> list[str]:
        return [str(cfg_path), 'none', *(f'{m}={given[m]}' for m in given), out, '--tile', tile,
                '--overlap', '0', '--quiet', '--no-preview']  # fmt: skip

    # the CLI over every modality of the row: the output on the reference input's grid
    out = str(tmp_path / 'out.tif')
    cli.main(argv({m: files[m] for m in modalities}, out), load_model=lambda *a: (model, meta))
    with rasterio.open(out) as dst, rasterio.open(files[modalities[0]]) as ref:
        assert dst.crs == ref.crs and dst.transform == ref.transform
        assert dst.shape == ref.shape

    left = LEFT_OUT.get(name)
    if left is None:
        assert len(modalities) == 1
        return

    def probs(given: dict) -> torch.Tensor:
        """The CLI's own opening of the inputs, then the one loop over tiles."""
        args = cli.parse_args(argv(given, str(tmp_path / 'unused.tif')))
        contract = contract_from_config(cfg)
        with cli.open_inputs(args, contract, str(tmp_path)) as scene:
            adapter = build_adapter(model, scene.spec)
            grid = scene.grid(*cli.map_grid(args, contract))
            return run_tiles(scene, grid, adapter, _Collect(), progress=False)[0]

    given = {m: files[m] for m in modalities}
    full = probs(given)
    without = probs({m: p for m, p in given.items() if m != left})
    assert f'{left}: no file given; masked' in capsys.readouterr().out
    nodata = probs({**given, left: empty[left]})
    assert not torch.allclose(full, without)  # the mask reaches the model
    assert torch.equal(without, nodata)  # left out = no data, as in training

    # the CLI without it: masked, reported, written on the same grid
    out2 = str(tmp_path / 'out2.tif')
    cli.main(argv({m: p for m, p in given.items() if m != left}, out2),
             load_model=lambda *a: (model, meta))  # fmt: skip
    printed = capsys.readouterr().out
    assert f'{left}: masked in' in printed
    with rasterio.open(out2) as dst, rasterio.open(out) as first:
        assert dst.transform == first.transform and dst.shape == first.shape


def test_a_malformed_input_is_refused_before_the_model_is_loaded(tmp_path):
    from mmskysense.utils import register_all_modules

    register_all_modules()
    cfg = tiny.tiny_model_config('dyna_planet_s2_s1', str(tmp_path / 'work'))
    cfg_path = tmp_path / 'dyna.py'
    cfg.dump(str(cfg_path))
    files = _rasters('dyna', tmp_path / 'scene', np.random.default_rng(1))
    broken = tmp_path / 'broken.tif'
    broken.write_bytes(b'not a raster')

    def never(*args):
        raise AssertionError('the model was loaded')

    cases = [
        ([f'hr={files["hr"]}', f's2={broken}'], 'broken.tif'),  # an optional input, malformed
        ([f's2={files["s2"]}', f's1={files["s1"]}'], "no file for the input 'hr'"),  # the reference
        ([f'hr={files["hr"]}', f's2={files["s1"]}'], 'bands'),  # S1's 4 bands as S2's dates
        ([files['hr']], 'name each file'),
    ]
    for inputs, message in cases:
        with pytest.raises(SystemExit) as err:
            cli.main([str(cfg_path), 'none', *inputs, str(tmp_path / 'o.tif'), '--quiet'],
                     load_model=never)  # fmt: skip
        assert message in str(err.value), (inputs, str(err.value))
    assert not (tmp_path / 'o.tif').exists()
