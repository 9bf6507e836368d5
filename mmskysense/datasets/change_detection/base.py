"""The common base of the binary change-detection datasets (LEVIR-CD, OSCD).

A sample is a pair of co-registered images of two dates and a binary change mask. The data
info each dataset yields (consumed by ``LoadImagePair`` and ``LoadBinaryChangeLabel``)::

    img_paths     [date 1, date 2], each a file or a list of single-band files
    img_path      a string naming the sample (date 1's file or the city folder), for logs
    seg_map_path  the change mask
"""

from collections.abc import Sequence

from mmseg.datasets import BaseSegDataset

CHANGE_CLASSES = ('unchanged', 'changed')
CHANGE_PALETTE = [[0, 0, 0], [255, 255, 255]]
#: index of the class whose precision / recall / F1 / IoU the papers report
CHANGED_INDEX = 1


class BaseChangeDetDataset(BaseSegDataset):
    """mmseg ``BaseSegDataset`` with the two change classes; subclasses read a release."""

    METAINFO = dict(classes=CHANGE_CLASSES, palette=CHANGE_PALETTE)

    def _item(
        self, img_paths: Sequence[str | list[str]], seg_map_path: str, img_path: str, **extra
    ) -> dict:
        return dict(
            img_paths=list(img_paths),
            img_path=img_path,
            seg_map_path=seg_map_path,
            label_map=self.label_map,
            reduce_zero_label=False,
            seg_fields=[],
            **extra,
        )
