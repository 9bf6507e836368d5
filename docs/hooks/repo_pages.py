"""mkdocs hook: the README and the config READMEs as pages of the site, and the model zoo's
overview (``zoo/index.md``) from ``model-index.yml`` and its metafiles.

They live outside docs/ (the README at the root, one README per config folder), where their
links point at files of the repository. Each becomes a generated page (``index.md`` and
``zoo/<folder>.md``): a link to a page of the site is rewritten to that page, a link to any
other file of the repository (a config, a base file) becomes the path in code, so ``--strict``
checks every link that remains.
"""

import os
import os.path as osp
import posixpath
import re

from mkdocs.structure.files import File, Files

LINK = re.compile(r'(!?)\[([^\]]*)\]\(([^)\s]+)\)')


def _pages(root: str) -> dict[str, str]:
    """``{page path in the site: source path in the repository}``."""
    pages = {'index.md': 'README.md'}
    configs = osp.join(root, 'configs')
    for name in sorted(os.listdir(configs)):
        if osp.isfile(osp.join(configs, name, 'README.md')):
            pages[f'zoo/{name}.md'] = f'configs/{name}/README.md'
    return pages


def _rewrite(text: str, source: str, page: str, site_files: set[str]) -> str:
    def fix(match: re.Match) -> str:
        bang, label, target = match.groups()
        if re.match(r'[a-z]+:', target) or target.startswith('#'):
            return match.group(0)
        path, _, anchor = target.partition('#')
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        doc = repo_path[len('docs/') :] if repo_path.startswith('docs/') else None
        if doc is None:  # a config README linked from another page
            doc = next((p for p, s in _pages.cache.items() if s == repo_path), None)
        if doc in site_files:
            rel = posixpath.relpath(doc, posixpath.dirname(page) or '.')
            return f'{bang}[{label}]({rel}{"#" + anchor if anchor else ""})'
        return (
            f'{label} (`{repo_path}`)'
            if label.strip('`') != osp.basename(repo_path)
            else (f'`{repo_path}`')
        )

    return LINK.sub(fix, text)


def _zoo_overview(root: str) -> str:
    """One table per collection of the model index: name, task, training data, the paper's
    figures (as the metafiles mark them)."""
    import yaml

    with open(osp.join(root, 'model-index.yml'), encoding='utf-8') as f:
        imports = yaml.safe_load(f)['Import']
    lines = [
        '# Model zoo',
        '',
        'Every config, from `model-index.yml` and the `metafile.yml` of each config folder '
        '(`mim search mmskysense` reads the same). Load one by name with '
        "`mmskysense.get_model(NAME)`. The figures are the paper's, none reproduced here; "
        'no weights are published.',
    ]
    for rel in imports:
        with open(osp.join(root, rel), encoding='utf-8') as f:
            meta = yaml.safe_load(f)
        folder = posixpath.basename(posixpath.dirname(rel))
        for coll in meta['Collections']:
            lines += ['', f'## [{coll["Name"]}]({folder}.md)', '']
            lines += ['| name | task | training data | paper |', '| --- | --- | --- | --- |']
            for m in meta['Models']:
                if m['In Collection'] != coll['Name']:
                    continue
                figures = '; '.join(
                    ', '.join(f'{k} {v}' for k, v in r['Metrics'].items())
                    + f' ({r["Dataset"]}, {r["Source"].split(" (")[0].removeprefix("paper, ")})'
                    for r in m.get('Results', [])
                )
                md = m['Metadata']
                lines.append(
                    f'| `{m["Name"]}` | {md["Task"]} | {md["Training Data"]} | {figures or "-"} |'
                )
    return '\n'.join(lines) + '\n'


def on_files(files: Files, config) -> Files:
    root = osp.dirname(config['config_file_path'])
    _pages.cache = _pages(root)
    _pages.site_files = {f.src_uri for f in files} | set(_pages.cache) | {'zoo/index.md'}
    for page, source in _pages.cache.items():
        with open(osp.join(root, source), encoding='utf-8') as f:
            files.append(File.generated(config, page, content=f.read()))
    files.append(File.generated(config, 'zoo/index.md', content=_zoo_overview(root)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Every page's links, the docs' own included (``docs/multimodal.md`` links a config
    README, which is a page of the site)."""
    uri = page.file.src_uri
    source = _pages.cache.get(uri, f'docs/{uri}')
    return _rewrite(markdown, source, uri, _pages.site_files)
