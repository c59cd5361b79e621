"""Prepare the two real demo data sets of mmvlm from package registries.

Both sets come from ordinary packages, so they can be fetched on a machine
that reaches only PyPI and Debian's archive:

- ``trees`` (detection): the four annotated NEON aerial RGB images shipped
  in the PyPI wheel ``deepforest==2.1.0`` (MIT). Only ``deepforest/data/`` is
  unpacked; the package is never installed. The VOC-XML boxes are cut into
  non-overlapping tiles and written as a COCO-format data set. Whole tiles go
  to either split, so the test split shares no tile and no image area with
  the training split.
- ``brain`` (medical segmentation): the Colin27 T1 MRI ``ch2.nii.gz`` and the
  AAL atlas in the same space, shipped in the Debian package
  ``mricron-data`` (BSD-3-Clause). The ``.deb`` is downloaded with
  ``apt-get download`` and unpacked with ``dpkg-deb -x`` (no root install).
  Axial slices become an mmseg data set (PNG images + label PNGs) whose
  classes are readable region names ("left precentral gyrus"). Slices are
  split by interleaved slice ranges with a gap, so no test slice is a
  neighbour of a training slice.

Usage::

    python tools/dataset_converters/prepare_demo_data.py            # both
    python tools/dataset_converters/prepare_demo_data.py --only trees
    python tools/dataset_converters/prepare_demo_data.py --check    # verify

A second run with the same options does nothing (a stamp file records the
options); ``--force`` rebuilds.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

DEEPFOREST_REQ = 'deepforest==2.1.0'
DEEPFOREST_DATA_PREFIX = 'deepforest/data/'
MRICRON_PACKAGE = 'mricron-data'
MRICRON_TEMPLATES = 'usr/share/mricron/templates'

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

#: AAL regions of the brain set, in class order after background.
BRAIN_REGIONS = ('Precentral_L', 'Precentral_R', 'Postcentral_L',
                 'Postcentral_R', 'Frontal_Mid_L', 'Frontal_Mid_R',
                 'Temporal_Mid_L', 'Temporal_Mid_R', 'Precuneus_L',
                 'Precuneus_R', 'Cerebelum_Crus1_L', 'Cerebelum_Crus1_R')
#: AAL regions never trained on (ignored in training label maps); they are
#: labelled only in ``ann_dir_heldout/test`` for the open-vocabulary demo.
BRAIN_HELDOUT = ('Hippocampus_L', 'Hippocampus_R')
BRAIN_BACKGROUND = 'background'
IGNORE_INDEX = 255

# Readable names of AAL base names (hemisphere suffix removed).
_AAL_BASE_NAMES = {
    'Precentral': 'precentral gyrus',
    'Postcentral': 'postcentral gyrus',
    'Frontal_Sup': 'superior frontal gyrus',
    'Frontal_Sup_Orb': 'superior frontal gyrus, orbital part',
    'Frontal_Mid': 'middle frontal gyrus',
    'Frontal_Mid_Orb': 'middle frontal gyrus, orbital part',
    'Frontal_Inf_Oper': 'inferior frontal gyrus, opercular part',
    'Frontal_Inf_Tri': 'inferior frontal gyrus, triangular part',
    'Frontal_Inf_Orb': 'inferior frontal gyrus, orbital part',
    'Frontal_Sup_Medial': 'medial superior frontal gyrus',
    'Frontal_Med_Orb': 'medial orbitofrontal gyrus',
    'Rolandic_Oper': 'rolandic operculum',
    'Supp_Motor_Area': 'supplementary motor area',
    'Olfactory': 'olfactory cortex',
    'Rectus': 'gyrus rectus',
    'Insula': 'insula',
    'Cingulum_Ant': 'anterior cingulate gyrus',
    'Cingulum_Mid': 'middle cingulate gyrus',
    'Cingulum_Post': 'posterior cingulate gyrus',
    'Hippocampus': 'hippocampus',
    'ParaHippocampal': 'parahippocampal gyrus',
    'Amygdala': 'amygdala',
    'Calcarine': 'calcarine cortex',
    'Cuneus': 'cuneus',
    'Lingual': 'lingual gyrus',
    'Occipital_Sup': 'superior occipital gyrus',
    'Occipital_Mid': 'middle occipital gyrus',
    'Occipital_Inf': 'inferior occipital gyrus',
    'Fusiform': 'fusiform gyrus',
    'Parietal_Sup': 'superior parietal lobule',
    'Parietal_Inf': 'inferior parietal lobule',
    'SupraMarginal': 'supramarginal gyrus',
    'Angular': 'angular gyrus',
    'Precuneus': 'precuneus',
    'Paracentral_Lobule': 'paracentral lobule',
    'Caudate': 'caudate nucleus',
    'Putamen': 'putamen',
    'Pallidum': 'pallidum',
    'Thalamus': 'thalamus',
    'Heschl': 'Heschl gyrus',
    'Temporal_Sup': 'superior temporal gyrus',
    'Temporal_Pole_Sup': 'superior temporal pole',
    'Temporal_Mid': 'middle temporal gyrus',
    'Temporal_Pole_Mid': 'middle temporal pole',
    'Temporal_Inf': 'inferior temporal gyrus',
}
_ROMAN = {
    '1': 'I', '2': 'II', '3': 'III', '4': 'IV', '5': 'V', '6': 'VI',
    '7': 'VII', '7b': 'VIIb', '8': 'VIII', '9': 'IX', '10': 'X'
}


class RegistryUnreachableError(RuntimeError):
    """A package registry (PyPI or Debian) could not deliver a package."""


# --------------------------------------------------------------- names
def aal_readable_name(aal_name: str) -> str:
    """Turn an AAL label name into an English prompt.

    Args:
        aal_name (str): AAL name, e.g. ``'Frontal_Mid_L'``,
            ``'Cerebelum_Crus1_R'`` or ``'Vermis_4_5'``.

    Returns:
        str: e.g. ``'left middle frontal gyrus'``, ``'right cerebellum
        crus I'``, ``'vermis lobules IV-V'``.
    """
    if not aal_name or not isinstance(aal_name, str):
        raise ValueError(f'Expected a non-empty AAL region name, got '
                         f'{aal_name!r}.')
    parts = aal_name.split('_')
    side = ''
    if parts[-1] in ('L', 'R'):
        side = 'left ' if parts[-1] == 'L' else 'right '
        parts = parts[:-1]
    base = '_'.join(parts)
    if base in _AAL_BASE_NAMES:
        return side + _AAL_BASE_NAMES[base]
    if parts[0] in ('Cerebelum', 'Vermis'):
        organ = 'cerebellum' if parts[0] == 'Cerebelum' else 'vermis'
        rest = parts[1:]
        if len(rest) == 1 and rest[0].startswith('Crus'):
            return f'{side}{organ} crus {_ROMAN.get(rest[0][4:], rest[0][4:])}'
        lobules = '-'.join(_ROMAN.get(p, p) for p in rest)
        word = 'lobules' if len(rest) > 1 else 'lobule'
        return f'{side}{organ} {word} {lobules}'.strip()
    return side + ' '.join(p.lower() for p in parts)


def read_aal_names(txt_path: str) -> Dict[int, str]:
    """Read the AAL label table (``aal.nii.txt``: ``index name code``).

    Args:
        txt_path (str): Path of the table.

    Returns:
        dict[int, str]: Label value in the atlas volume -> AAL name.
    """
    names = {}
    with open(txt_path, encoding='utf-8') as f:
        for line_no, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2 or not fields[0].isdigit():
                raise ValueError(f'{txt_path}:{line_no}: expected "<index> '
                                 f'<name> [code]", got {line.strip()!r}.')
            names[int(fields[0])] = fields[1]
    return names


# --------------------------------------------------------------- fetching
def _run(cmd: Sequence[str], cwd: Optional[str], what: str) -> None:
    """Run a download command; raise a readable error when it fails."""
    try:
        proc = subprocess.run(
            list(cmd), cwd=cwd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError as e:
        raise RegistryUnreachableError(
            f'Cannot fetch {what}: the command {cmd[0]!r} is not available '
            f'on this machine ({e}).') from e
    except subprocess.TimeoutExpired as e:
        raise RegistryUnreachableError(
            f'Cannot fetch {what}: `{" ".join(cmd)}` timed out after 600 s; '
            'the registry looks unreachable.') from e
    if proc.returncode != 0:
        tail = '\n'.join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise RegistryUnreachableError(
            f'Cannot fetch {what}: `{" ".join(cmd)}` exited with '
            f'{proc.returncode}. The package registry may be unreachable '
            f'from this machine (check network / proxy / pip config, or run '
            f'`apt-get update` for Debian packages), then run this tool '
            f'again; finished steps are kept.\n--- last output ---\n{tail}')


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
        _run([sys.executable, '-m', 'pip', 'download', '--no-deps',
              '--disable-pip-version-check', DEEPFOREST_REQ, '-d', wheel_dir],
             None, f'the PyPI package {DEEPFOREST_REQ}')
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


def fetch_mricron_templates(cache_dir: str) -> str:
    """Download the ``mricron-data`` .deb and unpack it without installing.

    Args:
        cache_dir (str): Folder for the .deb and the unpacked tree.

    Returns:
        str: The unpacked ``usr/share/mricron/templates`` folder.
    """
    root = osp.join(cache_dir, 'mricron_data')
    templates = osp.join(root, MRICRON_TEMPLATES)
    if osp.isfile(osp.join(root, '.complete')):
        return templates
    deb_dir = osp.join(cache_dir, 'debs')
    os.makedirs(deb_dir, exist_ok=True)
    debs = [d for d in os.listdir(deb_dir)
            if d.startswith(MRICRON_PACKAGE + '_') and d.endswith('.deb')]
    if not debs:
        try:
            _run(['apt-get', 'download', MRICRON_PACKAGE], deb_dir,
                 f'the Debian package {MRICRON_PACKAGE}')
        except RegistryUnreachableError:
            # A fresh machine may have no package lists yet; root can fetch
            # them once and retry.
            if not hasattr(os, 'geteuid') or os.geteuid() != 0:
                raise
            print('[prepare_demo_data] apt-get download failed; running '
                  '`apt-get update` once and retrying')
            _run(['apt-get', 'update'], None, 'the Debian package lists')
            _run(['apt-get', 'download', MRICRON_PACKAGE], deb_dir,
                 f'the Debian package {MRICRON_PACKAGE}')
        debs = [d for d in os.listdir(deb_dir)
                if d.startswith(MRICRON_PACKAGE + '_') and d.endswith('.deb')]
    if not debs:
        raise RegistryUnreachableError(
            f'apt-get reported success but no {MRICRON_PACKAGE} .deb is in '
            f'{deb_dir}.')
    os.makedirs(root, exist_ok=True)
    _run(['dpkg-deb', '-x', osp.join(deb_dir, sorted(debs)[-1]), root], None,
         f'the contents of {debs[0]}')
    copyright_file = osp.join(root, 'usr/share/doc', MRICRON_PACKAGE,
                              'copyright')
    if not osp.isdir(templates):
        raise RuntimeError(f'{debs[0]} has no {MRICRON_TEMPLATES} folder.')
    if osp.isfile(copyright_file):
        shutil.copy(copyright_file, osp.join(root, 'COPYRIGHT'))
    open(osp.join(root, '.complete'), 'w').close()
    return templates


# --------------------------------------------------------------- detection
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


# --------------------------------------------------------------- brain
def brain_split_of_slices(num_slices: int, block: int, test: int,
                          gap: int) -> Dict[int, str]:
    """Assign slice indices to train / test by interleaved ranges.

    Each block of ``block`` slices is ``[train ...][gap][test][gap]``, so a
    test slice is at least ``gap + 1`` slices away from any training slice.

    Args:
        num_slices (int): Number of slices.
        block (int): Slices per block.
        test (int): Test slices per block.
        gap (int): Slices dropped on each side of the test range.

    Returns:
        dict[int, str]: Slice index -> 'train' or 'test' (gap slices absent).
    """
    n_train = block - test - 2 * gap
    if test < 1 or gap < 1 or n_train < 1:
        raise ValueError(f'Need test >= 1, gap >= 1 and block ({block}) > '
                         f'test ({test}) + 2 * gap ({gap}).')
    split = {}
    for z in range(num_slices):
        r = z % block
        if r < n_train:
            split[z] = 'train'
        elif n_train + gap <= r < n_train + gap + test:
            split[z] = 'test'
    return split


def _to_uint8(volume: np.ndarray) -> np.ndarray:
    vol = volume.astype(np.float32)
    lo, hi = np.percentile(vol, 0.5), np.percentile(vol, 99.5)
    if hi <= lo:
        raise ValueError('The MRI volume is constant; cannot scale it.')
    return ((vol - lo) / (hi - lo) * 255).clip(0, 255).astype(np.uint8)


def _axial(vol: np.ndarray, z: int) -> np.ndarray:
    # RAS volume [x, y, z] -> image rows = anterior at the top, columns =
    # patient left ... right (neurological view).
    return np.ascontiguousarray(vol[:, ::-1, z].T)


def convert_brain(mri_path: str,
                  atlas_path: str,
                  names_path: str,
                  out_dir: str,
                  regions: Sequence[str] = BRAIN_REGIONS,
                  heldout: Sequence[str] = BRAIN_HELDOUT,
                  block: int = 20,
                  test: int = 3,
                  gap: int = 3,
                  min_labelled: int = 200) -> dict:
    """Slice a T1 volume and its label atlas into a 2D mmseg data set.

    Writes ``img_dir/{train,test}/*.png`` (8-bit grey), ``ann_dir/{train,
    test}/*.png`` (class index per pixel: 0 background, ``i + 1`` for
    ``regions[i]``; held-out regions are 255 = ignored) and
    ``ann_dir_heldout/test/*.png`` (held-out regions labelled after the
    trained ones) and ``meta.json`` with the class names.

    Args:
        mri_path (str): NIfTI T1 volume.
        atlas_path (str): NIfTI label volume in the same space.
        names_path (str): AAL table ``index name code``.
        out_dir (str): Output folder.
        regions (Sequence[str]): AAL names of the trained classes.
        heldout (Sequence[str]): AAL names held out of training.
        block (int): Slices per split block, see
            :func:`brain_split_of_slices`.
        test (int): Test slices per block.
        gap (int): Slices dropped on each side of a test range.
        min_labelled (int): Skip slices with fewer labelled pixels.

    Returns:
        dict: The meta information written to ``meta.json``.
    """
    try:
        import nibabel as nib
    except ImportError as e:
        raise ImportError('Reading NIfTI needs nibabel: pip install nibabel '
                          '(it is in requirements/runtime.txt).') from e
    mri_img, atlas_img = nib.load(mri_path), nib.load(atlas_path)
    mri = np.asanyarray(mri_img.dataobj)
    atlas = np.asanyarray(atlas_img.dataobj).astype(np.int32)
    if mri.shape != atlas.shape or not np.allclose(mri_img.affine,
                                                   atlas_img.affine):
        raise ValueError(f'{mri_path} {mri.shape} and {atlas_path} '
                         f'{atlas.shape} are not in the same voxel space.')
    if nib.aff2axcodes(mri_img.affine) != ('R', 'A', 'S'):
        raise ValueError(f'{mri_path} is not RAS-oriented '
                         f'({nib.aff2axcodes(mri_img.affine)}); reorient it '
                         'first (nibabel.as_closest_canonical).')
    by_name = {v: k for k, v in read_aal_names(names_path).items()}
    unknown = [r for r in (*regions, *heldout) if r not in by_name]
    if unknown:
        raise ValueError(f'Regions {unknown} are not in {names_path}; '
                         f'choose among {sorted(by_name)}.')
    if set(regions) & set(heldout):
        raise ValueError(f'Regions both trained and held out: '
                         f'{sorted(set(regions) & set(heldout))}.')
    lut = np.zeros(max(by_name.values()) + 1, np.uint8)
    lut_heldout = np.zeros_like(lut)
    for i, r in enumerate(regions):
        lut[by_name[r]] = lut_heldout[by_name[r]] = i + 1
    for j, r in enumerate(heldout):
        lut[by_name[r]] = IGNORE_INDEX
        lut_heldout[by_name[r]] = len(regions) + 1 + j
    labels, labels_heldout = lut[atlas], lut_heldout[atlas]
    image = _to_uint8(mri)
    split_of = brain_split_of_slices(mri.shape[2], block, test, gap)
    for sub in ('img_dir', 'ann_dir'):
        for split in ('train', 'test'):
            os.makedirs(osp.join(out_dir, sub, split), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'ann_dir_heldout', 'test'), exist_ok=True)
    counts = {'train': [], 'test': []}
    for z, split in sorted(split_of.items()):
        lab = _axial(labels, z)
        if np.count_nonzero((lab > 0) & (lab != IGNORE_INDEX)) < min_labelled:
            continue
        name = f'colin27_axial_z{z:03d}.png'
        Image.fromarray(_axial(image, z)).save(
            osp.join(out_dir, 'img_dir', split, name))
        Image.fromarray(lab).save(osp.join(out_dir, 'ann_dir', split, name))
        if split == 'test':
            Image.fromarray(_axial(labels_heldout, z)).save(
                osp.join(out_dir, 'ann_dir_heldout', 'test', name))
        counts[split].append(z)
    meta = dict(
        classes=[BRAIN_BACKGROUND] + [aal_readable_name(r) for r in regions],
        heldout_classes=[aal_readable_name(r) for r in heldout],
        aal_names=list(regions),
        aal_heldout=list(heldout),
        ignore_index=IGNORE_INDEX,
        train_slices=counts['train'],
        test_slices=counts['test'],
        split=dict(block=block, test=test, gap=gap),
        source='Colin27 T1 (ch2.nii.gz) + AAL atlas, Debian mricron-data')
    with open(osp.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    return meta


def check_brain(out_dir: str) -> List[str]:
    """Check a converted brain set; return a list of problems (empty = ok).

    Args:
        out_dir (str): Folder written by :func:`convert_brain`.

    Returns:
        list[str]: Human-readable problems.
    """
    meta_path = osp.join(out_dir, 'meta.json')
    if not osp.isfile(meta_path):
        return [f'missing {meta_path}']
    with open(meta_path) as f:
        meta = json.load(f)
    problems = []
    train, test = meta['train_slices'], meta['test_slices']
    if not train or not test:
        problems.append(f'empty split: {len(train)} train / {len(test)} test')
    gap = meta['split']['gap']
    near = [(a, b) for a in test for b in train if abs(a - b) <= gap]
    if near:
        problems.append(f'test slices within {gap} of training slices: '
                        f'{near[:5]}')
    num_classes = len(meta['classes'])
    for split, zs in (('train', train), ('test', test)):
        for z in zs:
            name = f'colin27_axial_z{z:03d}.png'
            for sub in ('img_dir', 'ann_dir'):
                if not osp.isfile(osp.join(out_dir, sub, split, name)):
                    problems.append(f'missing {sub}/{split}/{name}')
        if zs:
            lab = np.asarray(Image.open(
                osp.join(out_dir, 'ann_dir', split,
                         f'colin27_axial_z{zs[0]:03d}.png')))
            bad = set(np.unique(lab).tolist()) - set(range(num_classes)) - {
                IGNORE_INDEX}
            if bad:
                problems.append(f'label values {sorted(bad)} outside the '
                                f'{num_classes} classes')
    return problems


# --------------------------------------------------------------- driver
def _stamp_matches(out_dir: str, options: dict) -> bool:
    path = osp.join(out_dir, '.prepared.json')
    if not osp.isfile(path):
        return False
    with open(path) as f:
        return json.load(f) == options


def _write_stamp(out_dir: str, options: dict) -> None:
    with open(osp.join(out_dir, '.prepared.json'), 'w') as f:
        json.dump(options, f, indent=1, sort_keys=True)


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
    if not force and _stamp_matches(out_dir, options):
        print(f'[prepare_demo_data] trees: up to date in {out_dir}')
        return out_dir
    src = fetch_deepforest_data(cache_dir)
    if osp.isdir(out_dir):
        shutil.rmtree(out_dir)
    cocos = convert_trees(src, out_dir, tile_size=tile_size)
    _write_stamp(out_dir, options)
    print(f'[prepare_demo_data] trees: {len(cocos["train"]["images"])} train '
          f'tiles / {len(cocos["train"]["annotations"])} boxes, '
          f'{len(cocos["test"]["images"])} test tiles / '
          f'{len(cocos["test"]["annotations"])} boxes -> {out_dir}')
    return out_dir


def prepare_brain(data_root: str, cache_dir: str,
                  force: bool = False) -> str:
    """Fetch and convert the Colin27 / AAL segmentation set (idempotent).

    Args:
        data_root (str): Root of the demo data (``<root>/brain``).
        cache_dir (str): Download cache.
        force (bool): Rebuild even when the stamp matches.

    Returns:
        str: The data set folder.
    """
    out_dir = osp.join(data_root, 'brain')
    options = dict(version=1, source=MRICRON_PACKAGE,
                   regions=list(BRAIN_REGIONS), heldout=list(BRAIN_HELDOUT))
    if not force and _stamp_matches(out_dir, options):
        print(f'[prepare_demo_data] brain: up to date in {out_dir}')
        return out_dir
    templates = fetch_mricron_templates(cache_dir)
    if osp.isdir(out_dir):
        shutil.rmtree(out_dir)
    meta = convert_brain(
        osp.join(templates, 'ch2.nii.gz'), osp.join(templates, 'aal.nii.gz'),
        osp.join(templates, 'aal.nii.txt'), out_dir)
    _write_stamp(out_dir, options)
    print(f'[prepare_demo_data] brain: {len(meta["train_slices"])} train / '
          f'{len(meta["test_slices"])} test axial slices, '
          f'{len(meta["classes"])} classes -> {out_dir}')
    return out_dir


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Fetch the mmvlm demo data from PyPI / Debian and convert '
        'it (tree crowns -> COCO tiles, Colin27 + AAL -> mmseg slices).')
    parser.add_argument('--data-root', default='data/demo',
                        help='output root (default: data/demo)')
    parser.add_argument('--cache-dir', default=None,
                        help='download cache (default: <data-root>/.cache)')
    parser.add_argument('--only', choices=['trees', 'brain'], default=None,
                        help='prepare only one of the two sets')
    parser.add_argument('--force', action='store_true',
                        help='rebuild even when up to date')
    parser.add_argument('--check', action='store_true',
                        help='only verify prepared data; exit 1 on problems')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    cache = args.cache_dir or osp.join(args.data_root, '.cache')
    names = [args.only] if args.only else ['trees', 'brain']
    if args.check:
        checks = dict(trees=check_trees, brain=check_brain)
        failed = False
        for name in names:
            problems = checks[name](osp.join(args.data_root, name))
            status = 'ok' if not problems else 'PROBLEMS'
            print(f'[prepare_demo_data] {name}: {status}')
            for p in problems:
                print(f'  - {p}')
            failed |= bool(problems)
        return 1 if failed else 0
    try:
        for name in names:
            if name == 'trees':
                prepare_trees(args.data_root, cache, args.force)
            else:
                prepare_brain(args.data_root, cache, args.force)
    except RegistryUnreachableError as e:
        print(f'[prepare_demo_data] ERROR: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
