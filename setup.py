"""Install mmskysense (an OpenMMLab plugin); see README.md for the full environment."""

import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
# shipped as package data under mmskysense/.mim, OpenMMLab's layout: `mim search` / `mim download`
# and mmskysense.get_model read them there in an installed package (in a clone, at the root)
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'mmskysense', 'version.py')) as f:
        exec(compile(f.read(), 'mmskysense/version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname: str) -> list:
    """Requirement lines of a requirements file, comments and includes dropped."""
    reqs = []
    with open(osp.join(HERE, fname)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


class BuildPyWithMim(build_py):
    """``build_py`` that also copies ``MIM_FILES`` into the built package's ``.mim`` folder
    (a wheel, and a wheel built from the sdist: MANIFEST.in puts them in the sdist). An
    editable install reads them in the clone (mmskysense.utils.package_data)."""

    def run(self) -> None:
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        target = osp.join(self.build_lib, 'mmskysense', '.mim')
        for name in MIM_FILES:
            src, dst = osp.join(HERE, name), osp.join(target, name)
            if not osp.exists(src):
                raise FileNotFoundError(f'{src} is missing: a package without it cannot be built')
            if osp.isdir(dst):
                shutil.rmtree(dst)
            if osp.isdir(src):
                ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
                shutil.copytree(src, dst, ignore=ignore)
            else:
                self.mkpath(target)
                shutil.copyfile(src, dst)


setup(
    name='mmskysense',
    version=get_version(),
    description='SkySense V2: a unified multi-modal remote sensing foundation model, '
    'as an OpenMMLab plugin',
    long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    include_package_data=True,
    python_requires='>=3.10',
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require={
        'mim': parse_requirements('requirements/mminstall.txt'),
        'tests': parse_requirements('requirements/tests.txt'),
        'optional': parse_requirements('requirements/optional.txt'),
        'docs': parse_requirements('requirements/docs.txt'),
        # export to ONNX / torch.export and run exported models (docs/export.md)
        'export': parse_requirements('requirements/export.txt'),
    },
    zip_safe=False,
    cmdclass={'build_py': BuildPyWithMim},
)
