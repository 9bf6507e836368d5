"""Scene-classification datasets shipped as one folder of images per class (AID, RESISC-45)."""

import os
import os.path as osp
from collections.abc import Sequence

from mmpretrain.datasets import BaseDataset

from .splits import stratified_ratio_split

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.tif', '.tiff', '.bmp')


class SceneFolderDataset(BaseDataset):
    """``data_root/<class name>/<image>``; the split is drawn by training ratio per class.

    Args:
        data_root: the folder that holds the class folders.
        split: ``'train'`` (the drawn ``train_ratio`` of each class), ``'test'`` (the rest) or
            ``'all'``.
        train_ratio: fraction of each class used for training (the paper's TR).
        seed: seed of the draw; keep it fixed to compare runs.
        kwargs: passed to mmpretrain's ``BaseDataset`` (pipeline, test_mode, ...).
    """

    SPLITS = ('train', 'test', 'all')

    def __init__(
        self,
        data_root: str,
        split: str = 'train',
        train_ratio: float = 0.2,
        seed: int = 0,
        **kwargs,
    ) -> None:
        if split not in self.SPLITS:
            raise ValueError(f'split must be one of {self.SPLITS}, got {split!r}')
        self.split = split
        self.train_ratio = train_ratio
        self.seed = seed
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def _scan(self) -> list[dict]:
        root = self.data_root
        if not osp.isdir(root):
            raise FileNotFoundError(f'{self.__class__.__name__}: data_root {root} does not exist')
        classes: Sequence[str] = self.metainfo['classes']
        index = {name: i for i, name in enumerate(classes)}
        folders = sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d)))
        unknown = [d for d in folders if d not in index]
        if unknown:
            raise ValueError(
                f'{root}: folders {unknown} are not classes of {self.__class__.__name__}'
            )
        missing = [c for c in classes if c not in folders]
        if missing:
            raise FileNotFoundError(f'{root}: class folders {missing} are missing')
        items = []
        for name in folders:
            for fname in sorted(os.listdir(osp.join(root, name))):
                if fname.lower().endswith(IMG_EXTENSIONS):
                    items.append(dict(img_path=osp.join(root, name, fname), gt_label=index[name]))
        if not items:
            raise FileNotFoundError(f'{root}: no images found in the class folders')
        return items

    def load_data_list(self) -> list[dict]:
        items = self._scan()
        if self.split == 'all':
            return items
        train = set(
            stratified_ratio_split([it['gt_label'] for it in items], self.train_ratio, self.seed)
        )
        keep_train = self.split == 'train'
        return [it for i, it in enumerate(items) if (i in train) == keep_train]

    def extra_repr(self) -> list[str]:
        return [f'Split: {self.split}', f'Train ratio: {self.train_ratio}', f'Seed: {self.seed}']
