"""The model zoo in OpenMMLab's form: model-index.yml imports one metafile.yml per config folder,
every config is listed exactly once, every listed config exists, and the fields mim and the docs
read are there; results are the paper's figures, marked as such."""

import numbers
import os
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def load(path: Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def config_folders() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for folder in sorted((ROOT / 'configs').iterdir()):
        if folder.is_dir() and folder.name != '_base_':
            found[folder.name] = {p.stem for p in folder.glob('*.py')}
    return found


def test_model_index_imports_one_metafile_per_config_folder():
    index = load(ROOT / 'model-index.yml')
    assert sorted(index['Import']) == sorted(
        f'configs/{name}/metafile.yml' for name in config_folders()
    )
    for rel in index['Import']:
        assert (ROOT / rel).is_file(), rel


def test_every_config_is_listed_once_and_every_listed_config_exists():
    listed: list[str] = []
    for folder, configs in config_folders().items():
        meta = load(ROOT / 'configs' / folder / 'metafile.yml')
        collections = {c['Name'] for c in meta['Collections']}
        for c in meta['Collections']:
            assert c.get('README') and (ROOT / c['README']).is_file(), c['Name']
            assert c.get('Metadata', {}).get('Architecture'), c['Name']
        for model in meta['Models']:
            name = model['Name']
            listed.append(name)
            assert model['Config'] == f'configs/{folder}/{name}.py', name
            assert (ROOT / model['Config']).is_file(), model['Config']
            assert model['In Collection'] in collections, name
            assert model['Metadata'].get('Task') and model['Metadata'].get('Training Data'), name
            # no weights are published: a Weights entry would be a link to nothing
            assert 'Weights' not in model, name
            for result in model.get('Results', []):
                assert result['Task'] and result['Dataset'], name
                assert result['Metrics'] and all(
                    isinstance(v, numbers.Real) for v in result['Metrics'].values()
                ), name
                assert result['Source'].startswith('paper, Table'), name
        assert {m['Name'] for m in meta['Models']} == configs, folder
    every = {n for configs in config_folders().values() for n in configs}
    assert sorted(listed) == sorted(every)  # each exactly once


def test_the_paper_figures_are_the_config_readmes():
    """Each Result's figures appear in its config's row of the folder's README table."""
    for folder in config_folders():
        readme = (ROOT / 'configs' / folder / 'README.md').read_text()
        meta = load(ROOT / 'configs' / folder / 'metafile.yml')
        for model in meta['Models']:
            row = next(
                (line for line in readme.splitlines() if model['Name'] + '.py' in line), None
            )
            for result in model.get('Results', []):
                assert row is not None, model['Name']
                for value in result['Metrics'].values():
                    assert f'{value:.2f}' in row or f'{value:.1f}' in row, (model['Name'], value)


def test_the_model_index_loads_with_openmmlabs_reader():
    modelindex = pytest.importorskip('modelindex')  # installed with mmpretrain (its requirement)
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        index = modelindex.load('model-index.yml')
        index.build_models_with_collections()
        names = {m.name for m in index.models}
    finally:
        os.chdir(cwd)
    assert names == {n for configs in config_folders().values() for n in configs}
    errors = [
        (e['filepath'], msg)
        for e in index.collect_check_errors()
        for msg in e['errors']
        # OpenMMLab's metafiles give README paths from the root (mim reads them so); the
        # reader looks beside the metafile: the path is checked from the root above
        if not (msg.startswith('Path to README file') and (ROOT / msg.split()[4]).is_file())
    ]
    assert not errors, errors


def test_citation_names_the_paper():
    cff = load(ROOT / 'CITATION.cff')
    assert cff['cff-version'] == '1.2.0'
    paper = cff['preferred-citation']
    assert paper['title'].startswith('SkySense V2: A Unified Foundation Model')
    assert [a['family-names'] for a in paper['authors']] == [
        'Zhang',
        'Ru',
        'Wu',
        'Yu',
        'Liang',
        'Li',
        'Chen',
    ]
