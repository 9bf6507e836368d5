"""The model's date code, computed in one place (``mmskysense.structures.dates.date_code``):
day of year for the paper's pretraining, days since a per-dataset reference for multi-year
series (PASTIS: 2018-09-01, as the authors' U-TAE loader)."""

import datetime
import json
import os.path as osp

import numpy as np
from fake_releases import multimodal as fake_mm

from mmskysense.structures.dates import date_code

PASTIS_REF = datetime.date(2018, 9, 1)  # utae-paps PASTIS_Dataset(reference_date='2018-09-01')


def _fourteen_months() -> list[str]:
    """Two dates a month over the 14 months from September 2018 to November 2019 (the span of
    the PASTIS series)."""
    out = []
    for k in range(15):
        year, month = 2018 + (8 + k) // 12, (8 + k) % 12 + 1
        out += [f'{year}-{month:02d}-03', f'{year}-{month:02d}-19']
    return out


def test_fourteen_month_series_is_strictly_monotonic():
    dates = _fourteen_months()
    assert dates[0] == '2018-09-03' and dates[-1] == '2019-11-19'
    codes = [date_code(d, '2018-09-01') for d in dates]
    assert all(b > a for a, b in zip(codes, codes[1:])), codes
    # by hand: 2 days after the reference; 30 + 31 + 30 + 31 + 31 + 28 + 31 + 30 + 31 + 30 + 31
    # + 31 + 30 + 31 = 426 days to 2019-11-01, + 18
    assert codes[0] == 2 and codes[-1] == 444
    # the same year-less day of year would turn back at the new year
    doys = [date_code(d) for d in dates]
    assert any(b < a for a, b in zip(doys, doys[1:]))


def test_same_day_of_another_year_differs():
    assert date_code('2018-10-01') == date_code('2019-10-01') == 274  # day of year: the year lost
    assert date_code('2018-10-01', '2018-09-01') == 30
    assert date_code('2019-10-01', '2018-09-01') == 395
    assert date_code(datetime.date(2020, 12, 31)) == 366  # a leap year
    assert date_code('20190101', datetime.date(2018, 9, 1)) == 122


def test_bad_date_names_the_field():
    import pytest

    with pytest.raises(ValueError, match=r"metadata dates-S2: bad date '2019-13-01'"):
        date_code('2019-13-01', where='metadata dates-S2')


def test_pastis_pipeline_encodes_days_since_reference(tmp_path):
    """The PASTIS config's loader gives each real date its days since 2018-09-01, strictly
    increasing over a series that crosses the new year."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmskysense.registry import DATASETS
    from mmskysense.utils import register_all_modules

    root = fake_mm.make_pastis_r(str(tmp_path / 'PASTIS-R'), patches_per_fold=1, size=16, cell=8)
    # patch 10000: a series of every month from September 2018 to November 2019
    meta_path = osp.join(root, 'metadata.geojson')
    with open(meta_path) as f:
        meta = json.load(f)
    props = meta['features'][0]['properties']
    dates = [d.replace('-', '') for d in _fourteen_months()[::2]]  # 15 dates, one a month
    props['dates-S2'] = json.dumps({str(i): int(d) for i, d in enumerate(dates)})
    with open(meta_path, 'w') as f:
        json.dump(meta, f)
    s2_path = osp.join(root, 'DATA_S2', f'S2_{props["ID_PATCH"]}.npy')
    s2 = np.load(s2_path)
    np.save(s2_path, np.resize(s2, (len(dates), *s2.shape[1:])))

    register_all_modules()
    init_default_scope('mmskysense')
    cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', '..', 'configs', '_base_',
                                   'datasets', 'pastis_mm.py'))  # fmt: skip
    spec = dict(cfg.test_dataloader.dataset)
    spec.update(data_root=root, pipeline=cfg.test_pipeline, split='test', fold=1)  # fold 5
    spec['folds'] = (int(props['Fold']),)
    ds = DATASETS.build(spec)
    index = [ds.get_data_info(i)['id_patch'] for i in range(len(ds))].index(props['ID_PATCH'])
    info = ds.get_data_info(index)
    assert info['modalities']['s2']['dates'][0] == '2018-09-03'  # full dates kept
    out = dict(info)
    for t in ds.pipeline.transforms[:-1]:  # the results before packing
        out = t(out)
    real = out['date_masks']['s2']
    codes = out['doy']['s2'][real]
    assert len(codes) >= 2
    assert np.all(np.diff(codes) > 0), codes
    expected_all = [(datetime.date(int(d[:4]), int(d[4:6]), int(d[6:])) - PASTIS_REF).days
                    for d in dates]  # fmt: skip
    assert set(codes.tolist()) <= set(expected_all)
    assert codes[-1] > 365  # a date of the second year keeps its year
