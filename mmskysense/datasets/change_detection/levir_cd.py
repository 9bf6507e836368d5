"""LEVIR-CD (Chen and Shi 2020): building change in 637 pairs of 1024 x 1024 px, 0.5 m RGB.

The release is three archives, ``train.zip``, ``val.zip`` and ``test.zip`` (445 / 64 / 128
pairs), each holding ``A/`` (date 1), ``B/`` (date 2) and ``label/`` folders of PNGs with the
same file names, ``<split>_<n>.png``. Labels are 0 (unchanged) and 255 (changed). Extracted
each into its own folder (open-cd's layout) or all three into one (TorchGeo's layout)::

    data_root/{train,val,test}/{A,B,label}/<split>_<n>.png      one folder per split
    data_root/{A,B,label}/{train,val,test}_<n>.png               or merged; told apart by name

Both are read unchanged: the per-split folder is used when it exists.
"""

import glob
import os.path as osp

from mmskysense.registry import DATASETS

from .base import BaseChangeDetDataset

LEVIR_SPLITS = ('train', 'val', 'test')


@DATASETS.register_module()
class LEVIRCDDataset(BaseChangeDetDataset):
    """LEVIR-CD pairs of one split (metric: F1 of the changed class).

    Args:
        data_root: folder holding the extracted archives (see the module docstring).
        split: ``'train'``, ``'val'`` or ``'test'``.
        suffix: file suffix of images and labels.
    """

    def __init__(
        self, data_root: str, split: str = 'train', suffix: str = '.png', **kwargs
    ) -> None:
        if split not in LEVIR_SPLITS:
            raise ValueError(f'split must be one of {LEVIR_SPLITS}, got {split!r}')
        self.split = split
        self.suffix = suffix
        kwargs.setdefault('test_mode', split != 'train')
        super().__init__(data_root=data_root, img_suffix=suffix, seg_map_suffix=suffix, **kwargs)

    def _split_folder(self):
        """``(folder holding A/B/label, file-name prefix)`` of the split."""
        own = osp.join(self.data_root, self.split)
        if osp.isdir(osp.join(own, 'A')):
            return own, ''
        if osp.isdir(osp.join(self.data_root, 'A')):
            return self.data_root, f'{self.split}_'
        raise FileNotFoundError(
            f'LEVIR-CD {self.split} split not found: neither '
            f'{osp.join(own, "A")} nor {osp.join(self.data_root, "A")} '
            'exists'
        )

    def load_data_list(self) -> list[dict]:
        folder, prefix = self._split_folder()
        names = sorted(
            osp.basename(p) for p in glob.glob(osp.join(folder, 'A', f'{prefix}*{self.suffix}'))
        )
        if not names:
            raise ValueError(f'no {prefix}*{self.suffix} images in {osp.join(folder, "A")}')
        items = []
        for name in names:
            paths = [osp.join(folder, sub, name) for sub in ('A', 'B', 'label')]
            for path in paths[1:]:
                if not osp.isfile(path):
                    raise FileNotFoundError(f'LEVIR-CD pair {paths[0]}: {path} is missing')
            items.append(self._item(paths[:2], paths[2], img_path=paths[0]))
        return items
