"""FAIR1M 1.0 (Sun et al. 2022): fine-grained oriented object detection, 37 classes in 5
groups, images of 1,000 to 10,000 px from Gaofen satellites and Google Earth (paper Table 2b).

The release, as distributed::

    FAIR1M/                                      (the converter's input)
      train/part1/images/<id>.tif   train/part1/labelXml/<id>.xml
      train/part2/images/<id>.tif   train/part2/labelXml/<id>.xml
      validation/images/<id>.tif    validation/labelXml/<id>.xml
      test/images/<id>.tif                       (labels held by the organisers' server)

    labelXml/<id>.xml: annotation/source/filename, annotation/size/{width,height},
    annotation/objects/object/possibleresult/name and object/points/point "x,y" x 5
    (the four corners, the first repeated to close the ring)

The images are too large for a detector, so ``tools/dataset_converters/fair1m.py`` cuts them
into patches (1024 px, 200 px overlap, as mmrotate's DOTA split tool does) and writes the
DOTA-style layout this dataset reads, one folder per release folder::

    data_root/train/part1/images/<id>__1024__<x>___<y>.png
    data_root/train/part1/annfiles/<id>__1024__<x>___<y>.txt
                                 lines "x1 y1 ... x4 y4 Class_Name difficulty"
    data_root/train/part2/...  data_root/validation/...  data_root/test/images/...
    data_root/<folder>/patches.json                           patch offsets and image sizes

Class names with spaces are written with underscores in the patch files (``Small_Car``), so
that the files stay readable by DOTA tools. The test labels are not public: the paper's number
is the server's; ``validation`` is evaluated locally, and
``tools/dataset_converters/fair1m_submission.py`` writes the server's format from predictions.
"""

import glob
import os
import os.path as osp
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import numpy as np

from mmskysense.registry import DATASETS

from .det_annotations import ClassNameMatcher, DetectionReleaseDataset, polygon_problem

#: the 37 classes in the order of the FAIR1M paper (ship, vehicle, airplane, court, road)
FAIR1M_CLASSES = (
    'Passenger Ship',
    'Motorboat',
    'Fishing Boat',
    'Tugboat',
    'other-ship',
    'Engineering Ship',
    'Liquid Cargo Ship',
    'Dry Cargo Ship',
    'Warship',
    'Small Car',
    'Bus',
    'Cargo Truck',
    'Dump Truck',
    'other-vehicle',
    'Van',
    'Trailer',
    'Tractor',
    'Excavator',
    'Truck Tractor',
    'Boeing737',
    'Boeing747',
    'Boeing777',
    'Boeing787',
    'ARJ21',
    'C919',
    'A220',
    'A321',
    'A330',
    'A350',
    'other-airplane',
    'Baseball Field',
    'Basketball Court',
    'Football Field',
    'Tennis Court',
    'Roundabout',
    'Intersection',
    'Bridge',
)

FAIR1M_GROUPS = dict(
    ship=FAIR1M_CLASSES[0:9],
    vehicle=FAIR1M_CLASSES[9:19],
    airplane=FAIR1M_CLASSES[19:30],
    court=FAIR1M_CLASSES[30:34],
    road=FAIR1M_CLASSES[34:37],
)

#: release folders, and the split each belongs to
FAIR1M_FOLDERS = {
    'train/part1': 'train',
    'train/part2': 'train',
    'validation': 'val',
    'test': 'test',
}

_PATCH_NAME = re.compile(r'^(?P<image>.+)__(?P<size>\d+)__(?P<x>\d+)___(?P<y>\d+)$')


def dota_class_name(name: str) -> str:
    """The class name as DOTA-style text files write it (no spaces)."""
    return name.replace(' ', '_')


def patch_name(image_id: str, size: int, x: int, y: int) -> str:
    """mmrotate's patch naming, which its ``DOTAMetric(merge_patches=True)`` parses too."""
    return f'{image_id}__{size}__{x}___{y}'


def parse_patch_name(name: str) -> tuple[str, int, int]:
    """``(image_id, x, y)`` of a patch name written by :func:`patch_name`."""
    m = _PATCH_NAME.match(osp.splitext(osp.basename(name))[0])
    if m is None:
        raise ValueError(f'{name!r} is not a patch name <image>__<size>__<x>___<y>')
    return m['image'], int(m['x']), int(m['y'])


def read_fair1m_xml(path: str) -> dict:
    """Read a FAIR1M label (or result) XML.

    Returns ``dict(filename, width, height, names, points, scores)``: ``points`` is a list of
    ``N x 2`` float arrays as written (the closing repeat of the first point removed),
    ``scores`` the ``possibleresult/probability`` values (None where absent, as in labels).
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ValueError(f'{path} is not valid XML: {e}') from e
    filename = root.findtext('source/filename')
    width = root.findtext('size/width')
    height = root.findtext('size/height')
    names, points, scores = [], [], []
    objects = root.find('objects')
    for index, obj in enumerate(objects.findall('object') if objects is not None else []):
        names.append(obj.findtext('possibleresult/name'))
        prob = obj.findtext('possibleresult/probability')
        scores.append(float(prob) if prob is not None else None)
        pts = []
        for point in obj.findall('points/point'):
            try:
                x, y = (float(v) for v in point.text.split(','))
            except (AttributeError, ValueError):
                raise ValueError(f'{path}: object {index} has point {point.text!r}, expected "x,y"')
            pts.append((x, y))
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        if len(pts) > 1 and np.array_equal(pts[0], pts[-1]):
            pts = pts[:-1]
        points.append(pts)
    return dict(
        filename=filename,
        width=int(float(width)) if width else None,
        height=int(float(height)) if height else None,
        names=names,
        points=points,
        scores=scores,
    )


def write_fair1m_xml(
    path: str,
    filename: str,
    names: Sequence[str],
    points: Sequence[np.ndarray],
    scores: Sequence[float] | None = None,
    width: int | None = None,
    height: int | None = None,
) -> None:
    """Write a FAIR1M XML: labels, or (with ``scores``) the server's result format, whose objects
    carry ``possibleresult/probability``. Points are written with 6 decimals, the first point
    repeated at the end."""
    root = ET.Element('annotation')
    source = ET.SubElement(root, 'source')
    ET.SubElement(source, 'filename').text = filename
    ET.SubElement(source, 'origin').text = 'GF2/GF3'
    research = ET.SubElement(root, 'research')
    for key, value in (
        ('version', '1.0'),
        ('provider', 'mmskysense'),
        ('author', 'mmskysense'),
        ('pluginname', 'FAIR1M'),
        ('pluginclass', 'object detection'),
        ('time', '2021-07-21'),
    ):
        ET.SubElement(research, key).text = value
    if width is not None and height is not None:
        size = ET.SubElement(root, 'size')
        ET.SubElement(size, 'width').text = str(width)
        ET.SubElement(size, 'height').text = str(height)
        ET.SubElement(size, 'depth').text = '3'
    objects = ET.SubElement(root, 'objects')
    for i, (name, pts) in enumerate(zip(names, points)):
        obj = ET.SubElement(objects, 'object')
        ET.SubElement(obj, 'coordinate').text = 'pixel'
        ET.SubElement(obj, 'type').text = 'rectangle'
        ET.SubElement(obj, 'description').text = 'None'
        result = ET.SubElement(obj, 'possibleresult')
        ET.SubElement(result, 'name').text = name
        if scores is not None:
            ET.SubElement(result, 'probability').text = f'{float(scores[i]):.6f}'
        ring = ET.SubElement(obj, 'points')
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        for x, y in list(pts) + [pts[0]]:
            ET.SubElement(ring, 'point').text = f'{x:.6f},{y:.6f}'
    ET.indent(root, space='\t')
    tmp = path + '.partial'
    ET.ElementTree(root).write(tmp, encoding='utf-8', xml_declaration=True)
    os.replace(tmp, path)


def read_dota_txt(path: str) -> list[tuple[np.ndarray, str, int]]:
    """Objects of a DOTA-style text file: ``(4 x 2 corners, class name, difficulty)``."""
    objects = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            items = line.split()
            if not items or line.startswith(('imagesource', 'gsd')):
                continue
            if len(items) < 9:
                raise ValueError(
                    f'{path}:{line_no}: expected "x1 y1 ... x4 y4 class [difficulty]"'
                    f', got {line.strip()!r}'
                )
            try:
                corners = np.array([float(v) for v in items[:8]]).reshape(4, 2)
                difficulty = int(items[9]) if len(items) > 9 else 0
            except ValueError:
                raise ValueError(
                    f'{path}:{line_no}: corners and difficulty must be numbers, got '
                    f'{line.strip()!r}'
                )
            objects.append((corners, items[8], difficulty))
    return objects


def write_dota_txt(path: str, objects: Sequence[tuple[np.ndarray, str, int]]) -> None:
    with open(path, 'w') as f:
        for corners, name, difficulty in objects:
            coords = ' '.join(repr(float(v)) for v in np.asarray(corners).reshape(-1))
            f.write(f'{coords} {dota_class_name(name)} {difficulty}\n')


@DATASETS.register_module()
class FAIR1MDataset(DetectionReleaseDataset):
    """FAIR1M 1.0 patches written by ``tools/dataset_converters/fair1m.py``.

    As mmrotate's ``DOTADataset``: ``ann_file`` is the folder of the patch text files (e.g.
    ``'validation/annfiles'``), or ``''`` for images without labels (the test split), and
    ``data_prefix.img_path`` the folder of the patch images. ``bbox`` is the quadrilateral
    ``x1, y1, ..., x4, y4`` (``LoadAnnotations(box_type='qbox')``, then ``ConvertBoxType``).
    Objects cut by a patch border carry difficulty 2, as mmrotate's split tool writes them;
    those above ``diff_thr`` are ignored (default 100: none is).
    """

    METAINFO = dict(classes=FAIR1M_CLASSES)

    def __init__(self, diff_thr: int = 100, img_suffix: str = '.png', **kwargs) -> None:
        self.diff_thr = diff_thr
        self.img_suffix = img_suffix
        super().__init__(**kwargs)

    def load_data_list(self) -> list[dict]:
        classes = self.metainfo['classes']
        match = ClassNameMatcher(classes, 'FAIR1M', {dota_class_name(c): c for c in classes})
        img_dir = self.data_prefix.get('img_path', '')
        if not osp.isdir(img_dir):
            raise FileNotFoundError(
                f'FAIR1M patch folder {img_dir} does not exist (run '
                'tools/dataset_converters/fair1m.py on the release first)'
            )
        images = sorted(glob.glob(osp.join(img_dir, '*' + self.img_suffix)))
        if self.ann_file in ('', self.data_root):
            return [self._info(p, osp.splitext(osp.basename(p))[0], None, []) for p in images]
        if not osp.isdir(self.ann_file):
            raise FileNotFoundError(f'FAIR1M annotation folder {self.ann_file} does not exist')
        texts = sorted(glob.glob(osp.join(self.ann_file, '*.txt')))
        ids = {osp.splitext(osp.basename(p))[0] for p in texts}
        for p in images:
            if osp.splitext(osp.basename(p))[0] not in ids:
                raise FileNotFoundError(f'patch image {p} has no annotation in {self.ann_file}')
        data_list = []
        for txt in texts:
            img_id = osp.splitext(osp.basename(txt))[0]
            img_path = osp.join(img_dir, img_id + self.img_suffix)
            if not osp.isfile(img_path):
                raise FileNotFoundError(f'annotation {txt} has no image: {img_path} does not exist')
            data_list.append(self._info(img_path, img_id, txt, read_dota_txt(txt), match))
        return data_list

    def _info(
        self,
        img_path: str,
        img_id: str,
        txt: str | None,
        objects,
        match: ClassNameMatcher | None = None,
    ) -> dict:
        from PIL import Image

        with Image.open(img_path) as img:  # reads the header only
            width, height = img.size
        instances = []
        for index, (corners, name, difficulty) in enumerate(objects):
            label = match(name, txt)
            problem = polygon_problem(corners, width, height)
            if problem is not None:
                self.reject_box(problem, txt, index)
                continue
            instances.append(
                dict(
                    bbox=corners.reshape(-1).astype(np.float32).tolist(),
                    bbox_label=label,
                    ignore_flag=int(difficulty > self.diff_thr),
                )
            )
        return dict(
            img_id=img_id,
            img_path=img_path,
            file_name=osp.basename(img_path),
            width=width,
            height=height,
            instances=instances,
        )


def patch_offsets(patches_json: str) -> dict[str, tuple[str, int, int]]:
    """``patch id -> (image id, x, y)`` from a converter's ``patches.json``."""
    import json

    with open(patches_json) as f:
        meta = json.load(f)
    return {
        p[0]: (image_id, int(p[1]), int(p[2]))
        for image_id, info in meta['images'].items()
        for p in info['patches']
    }
