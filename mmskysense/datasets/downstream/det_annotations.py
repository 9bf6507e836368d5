"""What the detection readers (DIOR, DIOR-R, FAIR1M) share: class-name matching, box checks,
skips that are counted and logged, and an mmdet dataset base that reports what it filters.

Policy for bad input, the same in every reader (docs/downstream.md):

* an object whose class name is not one of the dataset's classes: ``ValueError`` naming the
  annotation file and the name (never dropped, unlike mmdet's VOC reader);
* an annotation without its image, or a listed image without its annotation: ``FileNotFoundError``
  naming both paths;
* a degenerate box (zero area, not a finite number, wholly outside the image, a polygon without
  four corners): skipped and counted, with the files named in a warning of the log
  (``invalid_boxes='skip'``, the default), or a ``ValueError`` naming the file
  (``invalid_boxes='error'``). Boxes that only cross the image border are kept as annotated;
* images left without objects are dropped from training only with ``filter_cfg.filter_empty_gt``,
  and the count is logged.
"""

import logging
import math
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from mmdet.datasets import BaseDetDataset
from mmengine.logging import print_log

from .converter_geometry import polygon_area

#: how many file names a warning lists per reason before it only counts
MAX_NAMED_FILES = 5


class ClassNameMatcher:
    """Maps the names a release writes to class indices: exactly, or else case-insensitively
    (DIOR writes ``Expressway-Service-area`` for ``expressway-service-area``).

    ``aliases`` maps other spellings to a class name (FAIR1M's DOTA-style patch files write
    ``Small_Car`` for ``Small Car``).
    """

    def __init__(
        self, classes: Sequence[str], dataset: str, aliases: dict[str, str] | None = None
    ) -> None:
        self.classes = tuple(classes)
        self.dataset = dataset
        self.exact = {c: i for i, c in enumerate(self.classes)}
        self.folded = {c.lower(): i for i, c in enumerate(self.classes)}
        if len(self.folded) != len(self.classes):
            raise ValueError(f'{dataset} classes differ only by case: {self.classes}')
        for alias, name in (aliases or {}).items():
            self.folded.setdefault(alias.lower(), self.exact[name])

    def __call__(self, name: str | None, file: str) -> int:
        if name is not None:
            name = name.strip()
            if name in self.exact:
                return self.exact[name]
            if name.lower() in self.folded:
                return self.folded[name.lower()]
        raise ValueError(
            f'{file}: object class {name!r} is not one of the {len(self.classes)} '
            f'{self.dataset} classes {list(self.classes)}'
        )


def hbox_problem(box: Sequence[float], width: float, height: float) -> str | None:
    """Why a horizontal box ``(x1, y1, x2, y2)`` is unusable, or None."""
    x1, y1, x2, y2 = box
    if not all(math.isfinite(v) for v in box):
        return 'not a finite number'
    if x2 <= x1 or y2 <= y1:
        return 'zero area'
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        return 'outside the image'
    return None


def polygon_problem(points: np.ndarray, width: float, height: float) -> str | None:
    """Why a quadrilateral ``4 x 2`` is unusable, or None."""
    if points.shape != (4, 2):
        return f'{len(points)} corners instead of 4'
    if not np.isfinite(points).all():
        return 'not a finite number'
    if polygon_area(points) < 1e-6:
        return 'zero area'
    if (
        points[:, 0].max() <= 0
        or points[:, 1].max() <= 0
        or points[:, 0].min() >= width
        or points[:, 1].min() >= height
    ):
        return 'outside the image'
    return None


class SkipLog:
    """Counts skipped items by reason, with the files they came from, and logs one summary."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.files: dict[str, list[str]] = OrderedDict()

    def add(self, reason: str, file: str) -> None:
        self.files.setdefault(reason, []).append(file)

    def counts(self) -> dict[str, int]:
        return {reason: len(files) for reason, files in self.files.items()}

    def total(self) -> int:
        return sum(len(files) for files in self.files.values())

    def summary(self) -> str:
        parts = []
        for reason, files in self.files.items():
            named = sorted(set(files))
            shown = ', '.join(named[:MAX_NAMED_FILES]) + (
                f' and {len(named) - MAX_NAMED_FILES} more files'
                if len(named) > MAX_NAMED_FILES
                else ''
            )
            parts.append(f'{len(files)} {reason} (in {shown})')
        return f'skipped {self.total()} {self.what}: ' + '; '.join(parts)

    def log(self, source: str) -> None:
        if self.files:
            print_log(f'{source}: {self.summary()}', logger='current', level=logging.WARNING)


class DetectionReleaseDataset(BaseDetDataset):
    """mmdet's ``BaseDetDataset`` with the readers' common policy (module docstring).

    Subclasses implement ``load_data_list`` and call :meth:`reject_box` for a degenerate box;
    after loading, ``self.skipped`` holds the counts by reason and ``self.filtered`` the number of
    images dropped by ``filter_cfg``.

    Args:
        invalid_boxes: ``'skip'`` (count, log and drop the object) or ``'error'`` (raise).
    """

    def __init__(self, *args, invalid_boxes: str = 'skip', **kwargs) -> None:
        if invalid_boxes not in ('skip', 'error'):
            raise ValueError(f"invalid_boxes must be 'skip' or 'error', got {invalid_boxes!r}")
        self.invalid_boxes = invalid_boxes
        self.skip_log = SkipLog('objects with degenerate boxes')
        self.filtered = 0
        super().__init__(*args, **kwargs)

    @property
    def skipped(self) -> dict[str, int]:
        return self.skip_log.counts()

    def reject_box(self, reason: str, file: str, index: int) -> None:
        if self.invalid_boxes == 'error':
            raise ValueError(
                f'{file}: object {index} has a degenerate box ({reason}); pass '
                "invalid_boxes='skip' to drop such objects (counted in the log)"
            )
        self.skip_log.add(reason, file)

    def full_init(self) -> None:
        was_initialized = self._fully_initialized
        super().full_init()
        if not was_initialized:
            self.skip_log.log(f'{type(self).__name__} ({self.ann_file})')

    def filter_data(self) -> list[dict]:
        """Drops, in training only, images without objects (``filter_empty_gt``) or smaller than
        ``min_size``, and logs how many."""
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        empty = self.filter_cfg.get('filter_empty_gt', False)
        min_size = self.filter_cfg.get('min_size', 0)
        kept, no_objects, small = [], 0, 0
        for info in self.data_list:
            if empty and not any(not i['ignore_flag'] for i in info['instances']):
                no_objects += 1
            elif min(info['width'], info['height']) < min_size:
                small += 1
            else:
                kept.append(info)
        self.filtered = no_objects + small
        if self.filtered:
            print_log(
                f'{type(self).__name__} ({self.ann_file}): filter_cfg dropped '
                f'{no_objects} images without objects and {small} smaller than {min_size} '
                f'px from training; {len(kept)} remain',
                logger='current',
                level=logging.INFO,
            )
        return kept

    def get_cat_ids(self, idx: int) -> list[int]:
        return [i['bbox_label'] for i in self.get_data_info(idx)['instances']]
