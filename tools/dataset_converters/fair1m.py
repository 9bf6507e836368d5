"""Cut the FAIR1M 1.0 release into DOTA-style patches for ``FAIR1MDataset``.

Input (the extracted release, see ``mmskysense/datasets/downstream/fair1m.py``)::

    FAIR1M_ROOT/train/part1/{images/<id>.tif, labelXml/<id>.xml}
    FAIR1M_ROOT/train/part2/{images, labelXml}   FAIR1M_ROOT/validation/{images, labelXml}
    FAIR1M_ROOT/test/images                      (no labels)

Output, one folder per release folder::

    OUT/<folder>/images/<id>__<size>__<x>___<y>.png
    OUT/<folder>/annfiles/<id>__<size>__<x>___<y>.txt    (labelled folders)
    OUT/<folder>/patches.json                           image sizes and patch offsets

Windows of ``--patch-size`` px slide by ``patch-size - overlap`` and the last one of a row or
column is moved back to end at the image border (images smaller than a patch are padded with
``--padding-value``, BGR). As in mmrotate's DOTA split tool (``tools/data/dota/split``), a patch
keeps every object whose area lies inside it by at least ``--iof-thr`` (0.7); an object cut by
the patch border keeps its full corners (they may lie outside the patch) and gets difficulty 2.
An unknown class name, an image without its XML or an XML without its image is an error naming
the file; a degenerate polygon is skipped and counted (``--strict``: an error).

Usage: python tools/dataset_converters/fair1m.py FAIR1M_ROOT -o data/FAIR1M_split \
           [--folders train/part1 train/part2 validation test] [--patch-size 1024 --overlap 200]
"""

import argparse
import json
import os
import os.path as osp
import shutil
import warnings
from collections.abc import Sequence

import cv2
import numpy as np

from mmskysense.datasets.downstream.converter_geometry import fraction_inside
from mmskysense.datasets.downstream.det_annotations import (
    ClassNameMatcher,
    SkipLog,
    polygon_problem,
)
from mmskysense.datasets.downstream.fair1m import (
    FAIR1M_CLASSES,
    FAIR1M_FOLDERS,
    patch_name,
    read_fair1m_xml,
    write_dota_txt,
)
from mmskysense.datasets.tiling import window_starts

IMAGE_SUFFIXES = ('.tif', '.tiff', '.png', '.jpg', '.bmp')


def _read_window(src, x: int, y: int, w: int, h: int) -> np.ndarray:
    """An ``h x w x 3`` BGR uint8 window of an open rasterio dataset."""
    from rasterio.windows import Window

    bands = [1, 2, 3] if src.count >= 3 else [1]
    data = src.read(bands, window=Window(x, y, w, h))
    if len(bands) == 1:
        data = np.repeat(data, 3, axis=0)
    return np.ascontiguousarray(data.transpose(1, 2, 0)[..., ::-1])


def split_image(
    img_path: str,
    xml_path: str | None,
    out_dir: str,
    patch_size: int = 1024,
    overlap: int = 200,
    iof_thr: float = 0.7,
    padding_value: Sequence[int] = (104, 116, 124),
    strict: bool = False,
) -> dict:
    """Cut one image (and its label XML, if any) into patches under ``out_dir``.

    Returns the image's entry of ``patches.json``: ``dict(file, width, height, patches,
    skipped)`` with ``patches`` a list of ``[patch id, x, y]`` and ``skipped`` the reasons of the
    objects skipped as degenerate.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    image_id = osp.splitext(osp.basename(img_path))[0]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NotGeoreferencedWarning)
        src = rasterio.open(img_path)
    with src:
        if src.dtypes[0] != 'uint8':
            raise ValueError(f'{img_path} has {src.dtypes[0]} pixels; FAIR1M images are uint8')
        width, height = src.width, src.height
        objects, skipped = [], []
        if xml_path is not None:
            label = read_fair1m_xml(xml_path)
            if label['width'] is not None and (label['width'], label['height']) != (width, height):
                raise ValueError(
                    f'{xml_path} gives the size {label["width"]} x '
                    f'{label["height"]}, but {img_path} is {width} x {height}'
                )
            match = ClassNameMatcher(FAIR1M_CLASSES, 'FAIR1M')
            for index, (name, pts) in enumerate(zip(label['names'], label['points'])):
                name = FAIR1M_CLASSES[match(name, xml_path)]
                problem = polygon_problem(pts, width, height)
                if problem is not None:
                    if strict:
                        raise ValueError(
                            f'{xml_path}: object {index} has a degenerate polygon ({problem})'
                        )
                    skipped.append(problem)
                    continue
                objects.append((pts, name))
        boxes = np.array(
            [[p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()] for p, _ in objects]
        ).reshape(-1, 4)
        patches = []
        stride = patch_size - overlap
        for y in window_starts(height, patch_size, stride):
            for x in window_starts(width, patch_size, stride):
                x1, y1 = x + patch_size, y + patch_size
                name = patch_name(image_id, patch_size, x, y)
                w, h = min(patch_size, width - x), min(patch_size, height - y)
                patch = np.empty((patch_size, patch_size, 3), dtype=np.uint8)
                patch[...] = np.asarray(padding_value, dtype=np.uint8)
                patch[:h, :w] = _read_window(src, x, y, w, h)
                if not cv2.imwrite(osp.join(out_dir, 'images', name + '.png'), patch):
                    raise OSError(f'cannot write {osp.join(out_dir, "images", name + ".png")}')
                if xml_path is not None:
                    near = np.nonzero(
                        (boxes[:, 0] < x1)
                        & (boxes[:, 2] > x)
                        & (boxes[:, 1] < y1)
                        & (boxes[:, 3] > y)
                    )[0]
                    kept = []
                    for i in near:
                        pts, cls = objects[i]
                        if fraction_inside(pts, x, y, x1, y1) < iof_thr:
                            continue
                        inside = ((pts >= [x, y]) & (pts <= [x1, y1])).all()
                        kept.append((pts - [x, y], cls, 0 if inside else 2))
                    write_dota_txt(osp.join(out_dir, 'annfiles', name + '.txt'), kept)
                patches.append([name, x, y])
    return dict(
        file=osp.basename(img_path), width=width, height=height, patches=patches, skipped=skipped
    )


def _pairs(folder_dir: str, labelled: bool) -> list[tuple]:
    img_dir = osp.join(folder_dir, 'images')
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'FAIR1M images folder not found: {img_dir}')
    images = {
        osp.splitext(f)[0]: osp.join(img_dir, f)
        for f in sorted(os.listdir(img_dir))
        if f.lower().endswith(IMAGE_SUFFIXES)
    }
    if not labelled:
        return [(path, None) for _, path in sorted(images.items())]
    xml_dir = osp.join(folder_dir, 'labelXml')
    if not osp.isdir(xml_dir):
        raise FileNotFoundError(f'FAIR1M label folder not found: {xml_dir}')
    xmls = {
        osp.splitext(f)[0]: osp.join(xml_dir, f)
        for f in sorted(os.listdir(xml_dir))
        if f.endswith('.xml')
    }
    for stem, path in xmls.items():
        if stem not in images:
            raise FileNotFoundError(f'label {path} has no image {stem}.tif in {img_dir}')
    for stem, path in images.items():
        if stem not in xmls:
            raise FileNotFoundError(f'image {path} has no label {stem}.xml in {xml_dir}')
    return [(images[s], xmls[s]) for s in sorted(images)]


def _split_one(args):
    return split_image(*args[:3], **args[3])


def convert(
    src: str,
    out_dir: str,
    folders: Sequence[str] = tuple(FAIR1M_FOLDERS),
    patch_size: int = 1024,
    overlap: int = 200,
    iof_thr: float = 0.7,
    padding_value: Sequence[int] = (104, 116, 124),
    strict: bool = False,
    nproc: int = 1,
) -> dict[str, dict]:
    """Convert release folders; returns ``folder -> summary``. Each folder is written to
    ``<folder>.partial`` and renamed when complete, so a failed run leaves no half folder."""
    if not 0 <= overlap < patch_size:
        raise ValueError(f'overlap must be in [0, patch_size), got {overlap} for {patch_size}')
    summaries = {}
    for folder in folders:
        if folder not in FAIR1M_FOLDERS:
            raise ValueError(f'unknown FAIR1M folder {folder!r}; expected {list(FAIR1M_FOLDERS)}')
        labelled = FAIR1M_FOLDERS[folder] != 'test'
        pairs = _pairs(osp.join(src, folder), labelled)
        final = osp.join(out_dir, folder)
        if osp.exists(final):
            raise FileExistsError(f'{final} already exists; remove it to convert again')
        tmp = final + '.partial'
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(osp.join(tmp, 'images'))
        if labelled:
            os.makedirs(osp.join(tmp, 'annfiles'))
        skip_log = SkipLog('objects with degenerate polygons')
        opts = dict(
            patch_size=patch_size,
            overlap=overlap,
            iof_thr=iof_thr,
            padding_value=tuple(padding_value),
            strict=strict,
        )
        try:
            jobs = [(i, x, tmp, opts) for i, x in pairs]
            if nproc > 1:
                from multiprocessing import Pool

                with Pool(nproc) as pool:
                    entries = pool.map(_split_one, jobs)
            else:
                entries = [_split_one(job) for job in jobs]
            for (_, xml), entry in zip(pairs, entries):
                for reason in entry['skipped']:
                    skip_log.add(reason, xml)
            meta = dict(
                folder=folder,
                patch_size=patch_size,
                overlap=overlap,
                iof_thr=iof_thr,
                images={osp.splitext(e['file'])[0]: e for e in entries},
            )
            with open(osp.join(tmp, 'patches.json'), 'w') as f:
                json.dump(meta, f)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        summaries[folder] = dict(
            images=len(entries),
            patches=sum(len(e['patches']) for e in entries),
            skipped=skip_log.counts(),
        )
        if skip_log.total():
            print(f'{folder}: {skip_log.summary()}')
    return summaries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='extracted FAIR1M 1.0 release')
    parser.add_argument('-o', '--out-dir', required=True)
    parser.add_argument('--folders', nargs='+', default=list(FAIR1M_FOLDERS))
    parser.add_argument('--patch-size', type=int, default=1024)
    parser.add_argument('--overlap', type=int, default=200)
    parser.add_argument(
        '--iof-thr',
        type=float,
        default=0.7,
        help='least fraction of an object inside a patch for the patch to keep it',
    )
    parser.add_argument(
        '--padding-value',
        type=int,
        nargs=3,
        default=[104, 116, 124],
        help='BGR value of the padding of images smaller than a patch',
    )
    parser.add_argument(
        '--strict',
        action='store_true',
        help='a degenerate polygon is an error instead of a counted skip',
    )
    parser.add_argument('--nproc', type=int, default=1)
    args = parser.parse_args(argv)
    summaries = convert(
        args.src,
        args.out_dir,
        args.folders,
        args.patch_size,
        args.overlap,
        args.iof_thr,
        args.padding_value,
        args.strict,
        args.nproc,
    )
    for folder, s in summaries.items():
        print(
            f'{folder}: {s["images"]} images -> {s["patches"]} patches in '
            f'{osp.join(args.out_dir, folder)}'
        )


if __name__ == '__main__':
    main()
