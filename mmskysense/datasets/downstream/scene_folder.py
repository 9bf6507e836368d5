"""Scene-classification datasets shipped as one folder of images per class (AID, RESISC-45)."""

import os
import os.path as osp
from collections.abc import Sequence

from mmpretrain.datasets import BaseDataset

from ..image_split import load_ratio_split
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
        split_file: a training-ratio split written by
            ``tools/dataset_converters/make_image_split.py --train-ratio`` (paths relative to
            ``data_root``); its lists are read instead of drawing, and its ``train_ratio`` and
            ``seed`` must be the dataset's (a config that changes one and not the file fails).
            Without it the same draw is made in memory over the class folders.
        kwargs: passed to mmpretrain's ``BaseDataset`` (pipeline, test_mode, ...).
    """

    SPLITS = ('train', 'test', 'all')

    def __init__(
        self,
        data_root: str,
        split: str = 'train',
        train_ratio: float = 0.2,
        seed: int = 0,
        split_file: str | None = None,
        **kwargs,
    ) -> None:
        if split not in self.SPLITS:
            raise ValueError(f'split must be one of {self.SPLITS}, got {split!r}')
        self.split = split
        self.train_ratio = train_ratio
        self.seed = seed
        self.split_file = split_file
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

    def _read_split_file(self) -> list[dict]:
        name, path, root = self.__class__.__name__, self.split_file, self.data_root
        split = load_ratio_split(path)
        for key, mine in (('train_ratio', self.train_ratio), ('seed', self.seed)):
            if split[key] != mine:
                raise ValueError(
                    f'{name}: split file {path!r} was drawn with {key}={split[key]!r}, the '
                    f'dataset is set to {key}={mine!r}; give the file of that setting'
                )
        classes: Sequence[str] = self.metainfo['classes']
        index = {c: i for i, c in enumerate(classes)}
        unknown = [c for c in split['classes'] if c not in index]
        missing = [c for c in classes if c not in split['classes']]
        if unknown or missing:
            raise ValueError(
                f'{name}: split file {path!r} has classes {unknown} that are not the '
                f"dataset's, and lacks {missing}"
            )
        parts = ('train', 'test') if self.split == 'all' else (self.split,)
        items, absent = [], []
        for part in parts:
            for i, (rel, label) in enumerate(split[part]):
                cls_name = split['classes'][label]
                if rel.split('/')[0] != cls_name:
                    raise ValueError(
                        f'{name}: split file {path!r}: {part}[{i}] {rel!r} is labelled '
                        f'{cls_name!r} but is not in that class folder'
                    )
                img_path = osp.join(root, rel)
                if not osp.isfile(img_path):
                    absent.append(img_path)
                items.append(dict(img_path=img_path, gt_label=index[cls_name]))
        if absent:
            raise FileNotFoundError(
                f'{name}: {len(absent)} image(s) of split file {path!r} are not under '
                f'data_root {root!r}, e.g. {absent[0]!r}'
            )
        return sorted(items, key=lambda it: it['img_path'])

    def load_data_list(self) -> list[dict]:
        if self.split_file:
            return self._read_split_file()
        items = self._scan()
        if self.split == 'all':
            return items
        train = set(
            stratified_ratio_split([it['gt_label'] for it in items], self.train_ratio, self.seed)
        )
        keep_train = self.split == 'train'
        return [it for i, it in enumerate(items) if (i in train) == keep_train]

    def extra_repr(self) -> list[str]:
        lines = [f'Split: {self.split}', f'Train ratio: {self.train_ratio}', f'Seed: {self.seed}']
        return lines + ([f'Split file: {self.split_file}'] if self.split_file else [])
