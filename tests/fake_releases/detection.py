"""Small fake copies of the DIOR / DIOR-R and FAIR1M 1.0 releases, laid out as the real ones.

Objects are rotated rectangles filled with a colour of their class on a textured background,
so a detector can learn them: an mAP clearly above zero after a short training shows that the
data, the boxes, the model and the evaluation are wired together. The XML is written here from
string templates that follow the releases' files, not by the readers' code.
"""

import colorsys
import os
import os.path as osp
from collections.abc import Sequence

import numpy as np

DIOR_NAMES = (
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
#: how the release spells the two mixed-case names
DIOR_RELEASE_SPELLING = {
    'expressway-service-area': 'Expressway-Service-area',
    'expressway-toll-station': 'Expressway-toll-station',
}

FAIR1M_NAMES = (
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


def colour(index: int) -> np.ndarray:
    """A distinct, saturated RGB colour per class index."""
    hue = (index * 0.61803398875) % 1.0
    return np.array(colorsys.hsv_to_rgb(hue, 0.9, 0.95 if index % 2 == 0 else 0.7)) * 255.0


def rotated_rectangle(cx: float, cy: float, w: float, h: float, angle: float) -> np.ndarray:
    """Corners ``4 x 2``: left-top, right-top, right-bottom, left-bottom before the rotation."""
    local = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    c, s = np.cos(angle), np.sin(angle)
    return local @ np.array([[c, s], [-s, c]]) + [cx, cy]


def background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A grey, lightly textured ``H x W x 3`` uint8 background."""
    base = rng.normal(110, 12, size=(height // 8 + 1, width // 8 + 1, 1))
    base = np.kron(base, np.ones((8, 8, 1)))[:height, :width]
    noise = rng.normal(0, 6, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def paint(image: np.ndarray, corners: np.ndarray, label: int) -> None:
    import cv2

    cv2.fillPoly(image, [np.round(corners).astype(np.int32)], colour(label).tolist())


def place_objects(
    height: int,
    width: int,
    count: int,
    labels: Sequence[int],
    rng: np.random.Generator,
    size: tuple[float, float],
    margin: float = 2.0,
) -> list[tuple[np.ndarray, int]]:
    """Up to ``count`` non-overlapping rotated rectangles inside the image, on a coarse grid."""
    cell = size[1] * 1.3
    rows, cols = max(1, int(height // cell)), max(1, int(width // cell))
    cells = rng.permutation(rows * cols)[:count]
    objects = []
    for k in cells:
        r, c = divmod(int(k), cols)
        long_side = rng.uniform(*size)
        w, h = long_side, long_side / rng.uniform(1.4, 2.2)
        cx = (c + 0.5) * width / cols
        cy = (r + 0.5) * height / rows
        corners = rotated_rectangle(cx, cy, w, h, rng.uniform(-np.pi / 2, np.pi / 2))
        corners = np.clip(corners, margin, [width - margin, height - margin])
        objects.append((corners, int(rng.choice(labels))))
    return objects


# ------------------------------------------------------------------------------------ DIOR

_DIOR_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<annotation>
    <folder>/JPEGImages-{part}.zip/JPEGImages-{part}/JPEGImages-{part}</folder>
    <filename>{img_id}.jpg</filename>
    <path>/JPEGImages-{part}.zip/JPEGImages-{part}/JPEGImages-{part}</path>
    <source>
        <database>Unknown</database>
    </source>
    <size>
        <width>{width}</width>
        <height>{height}</height>
        <depth>3</depth>
    </size>
    <segmented>0</segmented>
"""
# no <difficult> in the horizontal files, as the release (mmdet PR #4729: "DIOR ... do not
# contain the 'difficult' tag")
_DIOR_HBB = """    <object>
        <name>{name}</name>
        <pose>Unspecified</pose>
        <truncated>0</truncated>
        <bndbox>
            <xmin>{xmin}</xmin>
            <ymin>{ymin}</ymin>
            <xmax>{xmax}</xmax>
            <ymax>{ymax}</ymax>
        </bndbox>
    </object>
"""
_DIOR_OBB = """    <object>
        <type>robndbox</type>
        <name>{name}</name>
        <pose>Unspecified</pose>
        <truncated>0</truncated>
        <difficult>0</difficult>
        <robndbox>
            <x_left_top>{c[0][0]}</x_left_top>
            <y_left_top>{c[0][1]}</y_left_top>
            <x_right_top>{c[1][0]}</x_right_top>
            <y_right_top>{c[1][1]}</y_right_top>
            <x_right_bottom>{c[2][0]}</x_right_bottom>
            <y_right_bottom>{c[2][1]}</y_right_bottom>
            <x_left_bottom>{c[3][0]}</x_left_bottom>
            <y_left_bottom>{c[3][1]}</y_left_bottom>
        </robndbox>
        <angle>{angle}</angle>
    </object>
"""
HBB_DIR = 'Annotations/Horizontal Bounding Boxes'
OBB_DIR = 'Annotations/Oriented Bounding Boxes'


def dior_hbb_release(corners: np.ndarray) -> tuple[int, int, int, int]:
    """The release's 1-based, inclusive integer box around continuous pixel corners."""
    return (
        int(np.floor(corners[:, 0].min())) + 1,
        int(np.floor(corners[:, 1].min())) + 1,
        int(np.ceil(corners[:, 0].max())),
        int(np.ceil(corners[:, 1].max())),
    )


def write_dior_xml(
    path: str,
    img_id: str,
    part: str,
    size: tuple[int, int],
    objects: Sequence[tuple[np.ndarray, str]],
    oriented: bool,
) -> None:
    """One annotation file of the release (``objects``: corners and the name as written)."""
    height, width = size
    text = _DIOR_HEAD.format(part=part, img_id=img_id, width=width, height=height)
    for corners, name in objects:
        if oriented:
            c = np.round(corners).astype(int).tolist()
            text += _DIOR_OBB.format(name=name, c=c, angle=0)
        else:
            xmin, ymin, xmax, ymax = dior_hbb_release(corners)
            text += _DIOR_HBB.format(name=name, xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text + '</annotation>\n')


def make_dior(
    root: str,
    images: dict[str, int] | None = None,
    size: int = 800,
    objects: tuple[int, int] = (2, 5),
    classes: Sequence[int] | None = None,
    object_size: tuple[float, float] = (0.12, 0.3),
    seed: int = 0,
) -> dict:
    """Write a fake DIOR + DIOR-R release under ``root``.

    ``images`` counts per split (train, val, test); ids are numbered like the release:
    trainval images first (``JPEGImages-trainval``), then test (``JPEGImages-test``).
    ``classes`` limits the class indices drawn. Returns ``{img_id: [(corners, label), ...]}``
    with the continuous pixel corners painted.
    """
    import cv2

    images = images or dict(train=3, val=2, test=3)
    labels = list(classes) if classes is not None else list(range(len(DIOR_NAMES)))
    rng = np.random.default_rng(seed)
    truth, next_id = {}, 1
    os.makedirs(osp.join(root, 'ImageSets', 'Main'), exist_ok=True)
    for split in ('train', 'val', 'test'):
        part = 'test' if split == 'test' else 'trainval'
        ids = []
        for _ in range(images.get(split, 0)):
            img_id = f'{next_id:05d}'
            next_id += 1
            img = background(size, size, rng)
            objs = place_objects(
                size,
                size,
                int(rng.integers(objects[0], objects[1] + 1)),
                labels,
                rng,
                (object_size[0] * size, object_size[1] * size),
            )
            for corners, label in objs:
                paint(img, corners, label)
            os.makedirs(osp.join(root, f'JPEGImages-{part}'), exist_ok=True)
            cv2.imwrite(
                osp.join(root, f'JPEGImages-{part}', img_id + '.jpg'),
                img[..., ::-1],
                [cv2.IMWRITE_JPEG_QUALITY, 95],
            )
            named = [
                (c, DIOR_RELEASE_SPELLING.get(DIOR_NAMES[lab], DIOR_NAMES[lab])) for c, lab in objs
            ]
            write_dior_xml(
                osp.join(root, HBB_DIR, img_id + '.xml'),
                img_id,
                part,
                (size, size),
                named,
                oriented=False,
            )
            write_dior_xml(
                osp.join(root, OBB_DIR, img_id + '.xml'),
                img_id,
                part,
                (size, size),
                named,
                oriented=True,
            )
            truth[img_id] = objs
            ids.append(img_id)
        with open(osp.join(root, 'ImageSets', 'Main', f'{split}.txt'), 'w') as f:
            f.write(''.join(i + '\n' for i in ids))
    return truth


# ---------------------------------------------------------------------------------- FAIR1M

_FAIR1M_HEAD = """<?xml version="1.0" encoding="utf-8"?>
<annotation>
\t<source>
\t\t<filename>{filename}</filename>
\t\t<origin>GF2/GF3</origin>
\t</source>
\t<research>
\t\t<version>1.0</version>
\t\t<provider>Company/School of team</provider>
\t\t<author>team name</author>
\t\t<pluginname>FAIR1M</pluginname>
\t\t<pluginclass>object detection</pluginclass>
\t\t<time>2021-03</time>
\t</research>
\t<size>
\t\t<width>{width}</width>
\t\t<height>{height}</height>
\t\t<depth>3</depth>
\t</size>
\t<objects>
"""
_FAIR1M_OBJECT = """\t\t<object>
\t\t\t<coordinate>pixel</coordinate>
\t\t\t<type>rectangle</type>
\t\t\t<description>None</description>
\t\t\t<possibleresult>
\t\t\t\t<name>{name}</name>
\t\t\t</possibleresult>
\t\t\t<points>
{points}\t\t\t</points>
\t\t</object>
"""
FAIR1M_LABELLED = ('train/part1', 'train/part2', 'validation')


def write_fair1m_label(
    path: str, filename: str, size: tuple[int, int], objects: Sequence[tuple[np.ndarray, str]]
) -> None:
    height, width = size
    text = _FAIR1M_HEAD.format(filename=filename, width=width, height=height)
    for corners, name in objects:
        ring = list(corners) + [corners[0]]
        points = ''.join(f'\t\t\t\t<point>{x:.6f},{y:.6f}</point>\n' for x, y in ring)
        text += _FAIR1M_OBJECT.format(name=name, points=points)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text + '\t</objects>\n</annotation>\n')


def write_tif(path: str, rgb: np.ndarray) -> None:
    """An ``H x W x 3`` uint8 image as a plain (not georeferenced) RGB GeoTIFF, as FAIR1M's."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    os.makedirs(osp.dirname(path), exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NotGeoreferencedWarning)
        with rasterio.open(
            path,
            'w',
            driver='GTiff',
            height=rgb.shape[0],
            width=rgb.shape[1],
            count=3,
            dtype='uint8',
        ) as dst:
            dst.write(rgb.transpose(2, 0, 1))


def make_fair1m(
    root: str,
    images: dict[str, int] | None = None,
    size: tuple[int, int] = (300, 340),
    objects: tuple[int, int] = (4, 8),
    classes: Sequence[int] | None = None,
    object_size: tuple[float, float] = (24, 48),
    seed: int = 0,
) -> dict:
    """Write a fake FAIR1M 1.0 release; returns ``{folder: {image id: [(corners, label)]}}``.

    ``images`` counts per release folder (``train/part1``, ``train/part2``, ``validation``,
    ``test``); ``size`` is ``(height, width)``. Image ids are numbered across folders.
    """
    images = images or {'train/part1': 2, 'train/part2': 1, 'validation': 2, 'test': 1}
    labels = list(classes) if classes is not None else list(range(len(FAIR1M_NAMES)))
    rng = np.random.default_rng(seed)
    truth, next_id = {}, 0
    for folder, count in images.items():
        truth[folder] = {}
        for _ in range(count):
            img_id = str(next_id)
            next_id += 1
            height, width = size
            img = background(height, width, rng)
            objs = place_objects(
                height,
                width,
                int(rng.integers(objects[0], objects[1] + 1)),
                labels,
                rng,
                object_size,
            )
            for corners, label in objs:
                paint(img, corners, label)
            write_tif(osp.join(root, folder, 'images', img_id + '.tif'), img)
            if folder != 'test':
                write_fair1m_label(
                    osp.join(root, folder, 'labelXml', img_id + '.xml'),
                    img_id + '.tif',
                    size,
                    [(c, FAIR1M_NAMES[lab]) for c, lab in objs],
                )
            truth[folder][img_id] = objs
    return truth
