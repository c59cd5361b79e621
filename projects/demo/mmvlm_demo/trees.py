"""The tree-crown detection set of the demo (PyPI ``deepforest`` images).

The four annotated NEON aerial RGB images shipped in the PyPI wheel
``deepforest==2.1.0`` (MIT). Only ``deepforest/data/`` is unpacked; the
package is never installed. The VOC-XML boxes are cut into non-overlapping
tiles and written as a COCO-format data set. Whole tiles go to either
split, so the test split shares no tile and no image area with the training
split.
"""
import json
import os
import os.path as osp
import shutil
import sys
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Tuple

import numpy as np
from PIL import Image

from .fetching import (RegistryUnreachableError, run_download, stamp_matches,
                       write_stamp)

DEEPFOREST_REQ = 'deepforest==2.1.0'
DEEPFOREST_DATA_PREFIX = 'deepforest/data/'

#: The deepforest images with VOC annotations, and the split of their tiles.
#: ``test_rows``: tile rows counted from the bottom that go to the test split;
#: ``'all'`` sends the whole image to one split.
TREE_SOURCES = (
    dict(xml='2019_YELL_2_528000_4978000_image_crop2.xml', test_rows=1),
    dict(xml='2019_YELL_2_541000_4977000_image_crop.xml', test_rows=1),
    dict(xml='OSBS_029.xml', split='train'),
    dict(xml='SOAP_061.xml', split='test'),
)
#: Class of the detection set. The source labels ("Tree", "Dead", "Alive")
#: are all tree crowns; the source label is kept in each annotation under
#: ``source_label`` for the open-vocabulary demo ("dead tree").
TREE_CLASSES = ('tree', )


def fetch_deepforest_data(cache_dir: str) -> str:
    """Download the deepforest wheel and unpack only ``deepforest/data/``.

    Args:
        cache_dir (str): Folder for the wheel and the unpacked files.

    Returns:
        str: Folder holding the unpacked data files.
    """
    out_dir = osp.join(cache_dir, 'deepforest_data')
    if osp.isfile(osp.join(out_dir, '.complete')):
        return out_dir
    wheel_dir = osp.join(cache_dir, 'wheels')
    os.makedirs(wheel_dir, exist_ok=True)
    wheels = [w for w in os.listdir(wheel_dir)
              if w.startswith('deepforest-2.1.0') and w.endswith('.whl')]
    if not wheels:
        run_download([
            sys.executable, '-m', 'pip', 'download', '--no-deps',
            '--disable-pip-version-check', DEEPFOREST_REQ, '-d', wheel_dir
        ], None, f'the PyPI package {DEEPFOREST_REQ}')
        wheels = [w for w in os.listdir(wheel_dir)
                  if w.startswith('deepforest-2.1.0') and w.endswith('.whl')]
    if not wheels:
        raise RegistryUnreachableError(
            f'pip reported success but no deepforest 2.1.0 wheel is in '
            f'{wheel_dir}.')
    os.makedirs(out_dir, exist_ok=True)
    with zipfile.ZipFile(osp.join(wheel_dir, wheels[0])) as zf:
        for member in zf.namelist():
            if (member.startswith(DEEPFOREST_DATA_PREFIX)
                    and not member.endswith('/')):
                target = osp.join(out_dir,
                                  member[len(DEEPFOREST_DATA_PREFIX):])
                os.makedirs(osp.dirname(target), exist_ok=True)
                with zf.open(member) as src, open(target, 'wb') as dst:
                    shutil.copyfileobj(src, dst)
    open(osp.join(out_dir, '.complete'), 'w').close()
    return out_dir


@dataclass
class VocAnnotation:
    """Boxes of one image read from a VOC XML file.

    Attributes:
        filename (str): Image file name recorded in the XML.
        width (int): Image width recorded in the XML.
        height (int): Image height recorded in the XML.
        names (list[str]): Object names.
        boxes (np.ndarray): ``[N, 4]`` float boxes ``x1, y1, x2, y2``.
    """
    filename: str
    width: int
    height: int
    names: List[str] = field(default_factory=list)
    boxes: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 4), np.float32))


def parse_voc_xml(xml_path: str) -> VocAnnotation:
    """Read a Pascal VOC annotation file.

    Args:
        xml_path (str): Path of the XML file.

    Returns:
        VocAnnotation: The image size, object names and boxes.
    """
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise ValueError(f'{xml_path} is not valid VOC XML: {e}') from e
    size = root.find('size')
    if size is None:
        raise ValueError(f'{xml_path} has no <size> element.')
    ann = VocAnnotation(
        filename=root.findtext('filename', default='').strip(),
        width=int(size.findtext('width')),
        height=int(size.findtext('height')))
    boxes = []
    for obj in root.iter('object'):
        bnd = obj.find('bndbox')
        box = [float(bnd.findtext(k)) for k in ('xmin', 'ymin', 'xmax',
                                                 'ymax')]
        if box[2] <= box[0] or box[3] <= box[1]:
            raise ValueError(f'{xml_path}: degenerate box {box} for object '
                             f'{obj.findtext("name")!r}.')
        ann.names.append(obj.findtext('name', default='').strip())
        boxes.append(box)
    if boxes:
        ann.boxes = np.asarray(boxes, np.float32)
    return ann


def tile_grid(width: int, height: int, tile_size: int,
              min_size: int) -> List[Tuple[int, int, int, int]]:
    """Non-overlapping tiles covering an image, row-major.

    Edge tiles are cut short; an edge strip thinner than ``min_size`` is
    dropped.

    Args:
        width (int): Image width.
        height (int): Image height.
        tile_size (int): Tile side.
        min_size (int): Smallest edge tile side kept.

    Returns:
        list[tuple]: ``(x0, y0, x1, y1)`` of each tile.
    """
    if tile_size <= 0 or min_size <= 0 or min_size > tile_size:
        raise ValueError(f'Need 0 < min_size ({min_size}) <= tile_size '
                         f'({tile_size}).')

    def starts(n):
        return [s for s in range(0, n, tile_size) if min(n - s, tile_size)
                >= min_size]

    return [(x, y, min(x + tile_size, width), min(y + tile_size, height))
            for y in starts(height) for x in starts(width)]


def crop_boxes(boxes: np.ndarray, tile: Tuple[int, int, int, int],
               min_visible: float) -> Tuple[np.ndarray, np.ndarray]:
    """Boxes inside a tile, in tile coordinates.

    Args:
        boxes (np.ndarray): ``[N, 4]`` boxes in image coordinates.
        tile (tuple): ``(x0, y0, x1, y1)`` of the tile.
        min_visible (float): Keep a box when at least this fraction of its
            area lies inside the tile.

    Returns:
        tuple: The clipped boxes ``[M, 4]`` and the indices of the kept
        input boxes ``[M]``.
    """
    x0, y0, x1, y1 = tile
    clipped = boxes.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(x0, x1)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(y0, y1)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = np.nonzero(inside >= min_visible * area)[0]
    out = clipped[keep] - np.array([x0, y0, x0, y0], np.float32)
    return out, keep


def _find_image(src_dir: str, ann: VocAnnotation, xml_name: str) -> str:
    stem = osp.splitext(xml_name)[0]
    for cand in (ann.filename, stem + '.png', stem + '.tif', stem + '.jpg'):
        if cand and osp.isfile(osp.join(src_dir, cand)):
            path = osp.join(src_dir, cand)
            if path.endswith('.tif'):  # prefer a PNG twin (no tiff plugin)
                png = osp.splitext(path)[0] + '.png'
                path = png if osp.isfile(png) else path
            return path
    raise FileNotFoundError(f'No image for {xml_name} in {src_dir} (looked '
                            f'for {ann.filename!r} and {stem}.png/.tif/.jpg).')


def convert_trees(src_dir: str,
                  out_dir: str,
                  sources: Iterable[dict] = TREE_SOURCES,
                  tile_size: int = 400,
                  min_tile: int = 200,
                  min_visible: float = 0.5) -> Dict[str, dict]:
    """Tile VOC-annotated aerial images into a COCO-format data set.

    Writes ``out_dir/images/<tile>.png`` and
    ``out_dir/annotations/{train,test}.json``.

    Args:
        src_dir (str): Folder with the VOC XML files and their images.
        out_dir (str): Output folder.
        sources (Iterable[dict]): One dict per XML file: ``xml`` and either
            ``split`` ('train' / 'test', the whole image) or ``test_rows``
            (that many bottom tile rows go to test, the rest to train).
        tile_size (int): Tile side in pixels.
        min_tile (int): Smallest edge tile kept.
        min_visible (float): Fraction of a box area that must lie inside a
            tile for the box to be kept.

    Returns:
        dict[str, dict]: The COCO dicts written, by split.
    """
    img_dir = osp.join(out_dir, 'images')
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(TREE_CLASSES)]
    cocos = {s: dict(images=[], annotations=[], categories=categories)
             for s in ('train', 'test')}
    ann_id = 0
    Image.MAX_IMAGE_PIXELS = None
    for src in sources:
        xml_path = osp.join(src_dir, src['xml'])
        ann = parse_voc_xml(xml_path)
        image = Image.open(_find_image(src_dir, ann, src['xml']))
        image = image.convert('RGB')
        if image.size != (ann.width, ann.height):
            raise ValueError(f'{src["xml"]} says {ann.width}x{ann.height} but '
                             f'the image is {image.size[0]}x{image.size[1]}.')
        tiles = tile_grid(ann.width, ann.height, tile_size, min_tile)
        rows = sorted({t[1] for t in tiles})
        if 'split' in src:
            if src['split'] not in cocos:
                raise ValueError(f'split must be train or test, got '
                                 f'{src["split"]!r} for {src["xml"]}.')
            test_y = set(rows) if src['split'] == 'test' else set()
        else:
            n = int(src['test_rows'])
            if not 0 < n < len(rows):
                raise ValueError(f'test_rows={n} for {src["xml"]} must be in '
                                 f'[1, {len(rows) - 1}] ({len(rows)} rows).')
            test_y = set(rows[-n:])
        stem = osp.splitext(src['xml'])[0].replace(' ', '_')
        for tile in tiles:
            split = 'test' if tile[1] in test_y else 'train'
            coco = cocos[split]
            name = f'{stem}_x{tile[0]}_y{tile[1]}.png'
            image.crop(tile).save(osp.join(img_dir, name))
            img_id = sum(len(c['images']) for c in cocos.values()) + 1
            coco['images'].append(
                dict(id=img_id, file_name=name, width=tile[2] - tile[0],
                     height=tile[3] - tile[1], source_image=ann.filename,
                     tile=list(tile)))
            boxes, keep = crop_boxes(ann.boxes, tile, min_visible)
            for box, k in zip(boxes.tolist(), keep.tolist()):
                w, h = box[2] - box[0], box[3] - box[1]
                if w < 1 or h < 1:
                    continue
                ann_id += 1
                coco['annotations'].append(
                    dict(id=ann_id, image_id=img_id, category_id=1,
                         bbox=[round(v, 2) for v in (box[0], box[1], w, h)],
                         area=round(w * h, 2), iscrowd=0,
                         source_label=ann.names[k]))
    for split, coco in cocos.items():
        with open(osp.join(out_dir, 'annotations', f'{split}.json'), 'w') as f:
            json.dump(coco, f)
    return cocos


def check_trees(out_dir: str) -> List[str]:
    """Check a converted tree set; return a list of problems (empty = ok).

    Args:
        out_dir (str): Folder written by :func:`convert_trees`.

    Returns:
        list[str]: Human-readable problems.
    """
    problems = []
    cocos = {}
    for split in ('train', 'test'):
        path = osp.join(out_dir, 'annotations', f'{split}.json')
        if not osp.isfile(path):
            return [f'missing {path}']
        with open(path) as f:
            cocos[split] = json.load(f)
        if not cocos[split]['annotations']:
            problems.append(f'{split} split has no boxes')
        for img in cocos[split]['images']:
            if not osp.isfile(osp.join(out_dir, 'images', img['file_name'])):
                problems.append(f'missing image {img["file_name"]}')
    names = [{i['file_name'] for i in c['images']} for c in cocos.values()]
    if names[0] & names[1]:
        problems.append(f'tiles in both splits: {sorted(names[0] & names[1])}')
    for a in cocos['train']['images']:
        for b in cocos['test']['images']:
            if a['source_image'] != b['source_image']:
                continue
            ax0, ay0, ax1, ay1 = a['tile']
            bx0, by0, bx1, by1 = b['tile']
            if min(ax1, bx1) > max(ax0, bx0) and min(ay1, by1) > max(ay0, by0):
                problems.append(f'train tile {a["file_name"]} overlaps test '
                                f'tile {b["file_name"]}')
    return problems


def prepare_trees(data_root: str, cache_dir: str, force: bool = False,
                  tile_size: int = 400) -> str:
    """Fetch and convert the tree-crown detection set (idempotent).

    Args:
        data_root (str): Root of the demo data (``<root>/trees``).
        cache_dir (str): Download cache.
        force (bool): Rebuild even when the stamp matches.
        tile_size (int): Tile side in pixels.

    Returns:
        str: The data set folder.
    """
    out_dir = osp.join(data_root, 'trees')
    options = dict(version=1, source=DEEPFOREST_REQ, tile_size=tile_size,
                   sources=[dict(s) for s in TREE_SOURCES])
    if not force and stamp_matches(out_dir, options):
        print(f'[prepare_demo_data] trees: up to date in {out_dir}')
        return out_dir
    src = fetch_deepforest_data(cache_dir)
    if osp.isdir(out_dir):
        shutil.rmtree(out_dir)
    cocos = convert_trees(src, out_dir, tile_size=tile_size)
    write_stamp(out_dir, options)
    print(f'[prepare_demo_data] trees: {len(cocos["train"]["images"])} train '
          f'tiles / {len(cocos["train"]["annotations"])} boxes, '
          f'{len(cocos["test"]["images"])} test tiles / '
          f'{len(cocos["test"]["annotations"])} boxes -> {out_dir}')
    return out_dir
