"""DIOR (Li et al. 2020) and DIOR-R (Cheng et al. 2022): object detection in optical remote
sensing images, 20 classes, 23,463 images of 800 x 800 px (paper Table 2b).

The release, as distributed (DIOR-R adds the oriented annotation folder)::

    DIOR/                                        (data_root)
      JPEGImages-trainval/00001.jpg ... 11725.jpg
      JPEGImages-test/11726.jpg ... 23463.jpg
      Annotations/Horizontal Bounding Boxes/<id>.xml     VOC style: object/name, object/bndbox
      Annotations/Oriented Bounding Boxes/<id>.xml       object/robndbox: x_left_top, y_left_top,
                                                         x_right_top, ... y_left_bottom
      ImageSets/Main/train.txt  val.txt  test.txt        one 5-digit image id per line

Protocol: train on train + val (5,862 + 5,863 images), test on test (11,738); the metric is the
VOC07 11-point mAP at IoU 0.5 (mmdet's ``VOCMetric``, mmrotate's ``DOTAMetric``).

Class names are matched as the release writes them or case-insensitively (the release writes
``Expressway-Service-area`` and ``Expressway-toll-station``); the class tuple and its order are
mmrotate's ``DIORDataset`` ones, so that label indices agree with models trained there.
"""

import os.path as osp
import xml.etree.ElementTree as ET

import numpy as np
from mmengine.fileio import list_from_file

from mmskysense.registry import DATASETS

from .det_annotations import (
    ClassNameMatcher,
    DetectionReleaseDataset,
    hbox_problem,
    polygon_problem,
)

DIOR_CLASSES = (
    'airplane',
    'airport',
    'baseballfield',
    'basketballcourt',
    'bridge',
    'chimney',
    'expressway-service-area',
    'expressway-toll-station',
    'dam',
    'golffield',
    'groundtrackfield',
    'harbor',
    'overpass',
    'ship',
    'stadium',
    'storagetank',
    'tenniscourt',
    'trainstation',
    'vehicle',
    'windmill',
)

DIOR_PALETTE = [
    (220, 20, 60),
    (119, 11, 32),
    (0, 0, 142),
    (0, 0, 230),
    (106, 0, 228),
    (0, 60, 100),
    (0, 80, 100),
    (0, 0, 70),
    (0, 0, 192),
    (250, 170, 30),
    (100, 170, 30),
    (220, 220, 0),
    (175, 116, 175),
    (250, 0, 30),
    (165, 42, 42),
    (255, 77, 255),
    (0, 226, 252),
    (182, 182, 255),
    (0, 82, 0),
    (120, 166, 157),
]

#: corner tags of a ``robndbox``, in the polygon order mmrotate's DIOR reader uses
ROBNDBOX_CORNERS = ('left_top', 'right_top', 'right_bottom', 'left_bottom')


def _number(obj: ET.Element, path: str, xml_path: str, index: int) -> float:
    node = obj.find(path)
    if node is None or node.text is None:
        raise ValueError(f'{xml_path}: object {index} has no <{path}>')
    try:
        return float(node.text)
    except ValueError:
        raise ValueError(f'{xml_path}: object {index} <{path}> is {node.text!r}, not a number')


class _DIORBase(DetectionReleaseDataset):
    """The image list, image and annotation lookup, and XML parsing of both releases."""

    METAINFO = dict(classes=DIOR_CLASSES, palette=DIOR_PALETTE)
    #: folder of the annotation XMLs, under data_root
    default_ann_subdir: str = ''

    def __init__(self, ann_subdir: str | None = None, img_suffix: str = '.jpg', **kwargs) -> None:
        self.ann_subdir = ann_subdir if ann_subdir is not None else self.default_ann_subdir
        self.img_suffix = img_suffix
        super().__init__(**kwargs)

    def load_data_list(self) -> list[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'DIOR image list {self.ann_file} does not exist '
                '(expected ImageSets/Main/{train,val,test}.txt)'
            )
        self.match_class = ClassNameMatcher(self.metainfo['classes'], type(self).__name__)
        ann_dir = osp.join(self.data_root, self.ann_subdir)
        if not osp.isdir(ann_dir):
            raise FileNotFoundError(f'DIOR annotation folder {ann_dir} does not exist')
        img_dir = self.data_prefix.get('img_path', '')
        data_list = []
        for img_id in list_from_file(self.ann_file):
            img_id = img_id.strip()
            if not img_id:
                continue
            img_path = osp.join(img_dir, img_id + self.img_suffix)
            xml_path = osp.join(ann_dir, img_id + '.xml')
            if not osp.isfile(xml_path):
                raise FileNotFoundError(
                    f'image {img_id} of {self.ann_file} has no annotation: '
                    f'{xml_path} does not exist'
                )
            if not osp.isfile(img_path):
                raise FileNotFoundError(
                    f'annotation {xml_path} has no image: {img_path} does not exist'
                )
            data_list.append(self.parse_xml(img_id, img_path, xml_path))
        return data_list

    def parse_xml(self, img_id: str, img_path: str, xml_path: str) -> dict:
        try:
            root = ET.parse(xml_path).getroot()
        except ET.ParseError as e:
            raise ValueError(f'{xml_path} is not valid XML: {e}') from e
        size = root.find('size')
        if size is not None and size.find('width') is not None:
            width, height = int(size.find('width').text), int(size.find('height').text)
        else:
            from PIL import Image

            with Image.open(img_path) as img:  # reads the header only
                width, height = img.size
        instances = []
        for index, obj in enumerate(root.findall('object')):
            name = obj.find('name')
            label = self.match_class(name.text if name is not None else None, xml_path)
            box = self.parse_box(obj, xml_path, index)
            problem = self.box_problem(box, width, height)
            if problem is not None:
                self.reject_box(problem, xml_path, index)
                continue
            # the release's horizontal files carry no <difficult> (mmdet PR #4729); where a
            # file has one, VOC's rule: difficult objects are neither rewarded nor penalised
            difficult = (obj.findtext('difficult') or '0').strip()
            instances.append(
                dict(bbox=self.to_mmdet(box), bbox_label=label, ignore_flag=int(difficult == '1'))
            )
        return dict(
            img_id=img_id,
            img_path=img_path,
            xml_path=xml_path,
            width=width,
            height=height,
            instances=instances,
        )

    def parse_box(self, obj: ET.Element, xml_path: str, index: int):
        raise NotImplementedError

    def box_problem(self, box, width: int, height: int) -> str | None:
        raise NotImplementedError

    def to_mmdet(self, box) -> list:
        raise NotImplementedError


@DATASETS.register_module()
class DIORDataset(_DIORBase):
    """DIOR horizontal boxes (``Annotations/Horizontal Bounding Boxes``), for mmdet detectors.

    Boxes follow mmdet's VOC convention: the release's 1-based inclusive pixel coordinates less
    one, which ``VOCMetric`` evaluates with its legacy ``+1`` box sizes.

    Example (train on train + val, as the configs do)::

        dict(type='ConcatDataset', datasets=[
            dict(type='DIORDataset', data_root='data/DIOR', ann_file='ImageSets/Main/train.txt',
                 data_prefix=dict(img_path='JPEGImages-trainval')),
            dict(type='DIORDataset', data_root='data/DIOR', ann_file='ImageSets/Main/val.txt',
                 data_prefix=dict(img_path='JPEGImages-trainval'))])
    """

    default_ann_subdir = 'Annotations/Horizontal Bounding Boxes'

    def parse_box(self, obj, xml_path, index):
        if obj.find('bndbox') is None:
            raise ValueError(
                f'{xml_path}: object {index} has no <bndbox> (a DIOR-R file? '
                'use DIORRDataset for Oriented Bounding Boxes)'
            )
        return [
            _number(obj, f'bndbox/{k}', xml_path, index) for k in ('xmin', 'ymin', 'xmax', 'ymax')
        ]

    def box_problem(self, box, width, height):
        # on the box mmdet trains with: xmax == xmin gives it no width (and a NaN box delta)
        return hbox_problem(self.to_mmdet(box), width, height)

    def to_mmdet(self, box):
        return [v - 1 for v in box]


@DATASETS.register_module()
class DIORRDataset(_DIORBase):
    """DIOR-R oriented boxes (``Annotations/Oriented Bounding Boxes``, ``robndbox`` corners),
    for mmrotate detectors.

    ``bbox`` is the quadrilateral ``x1, y1, ..., x4, y4`` in the corner order left-top,
    right-top, right-bottom, left-bottom, as mmrotate's reader gives it; the pipeline loads it
    with ``mmdet.LoadAnnotations(box_type='qbox')`` and converts it with
    ``mmrotate.ConvertBoxType`` to the detector's ``rbox``. The ``angle`` field is not read:
    the corners define the box.
    """

    default_ann_subdir = 'Annotations/Oriented Bounding Boxes'

    def parse_box(self, obj, xml_path, index):
        if obj.find('robndbox') is None:
            raise ValueError(
                f'{xml_path}: object {index} has no <robndbox> (a horizontal DIOR '
                'file? use DIORDataset for Horizontal Bounding Boxes)'
            )
        return np.array(
            [
                [_number(obj, f'robndbox/{a}_{corner}', xml_path, index) for a in ('x', 'y')]
                for corner in ROBNDBOX_CORNERS
            ]
        )

    def box_problem(self, box, width, height):
        return polygon_problem(box, width, height)

    def to_mmdet(self, box):
        return box.reshape(-1).astype(np.float32).tolist()
