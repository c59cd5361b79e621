"""Checks of a user's data before training.

One function per check; each returns a list of :class:`Finding`, one line
each, naming the file or annotation and the fix. The checks read the data
and never drop or change any of it: what to do is the user's decision.

Two kinds of data are checked:

- a COCO json detection set (:func:`check_coco_detection`): category names
  against the prompts, boxes outside the image or of zero area, images
  without annotations, image files that are missing or do not decode;
- an mmseg segmentation set, an image folder and a label-map folder with
  the same file stems (:func:`check_segmentation`): label values outside
  the class range, images without a label map, empty masks.

Annotations that mmdet's ``CocoDataset`` drops when it loads a json (a
``category_id`` that is no category of the json, a category that is not
among the configured ``classes``, an ``image_id`` that is no image) are
counted by :func:`count_dropped_annotations`;
:func:`check_dropped_annotations` reports them, as an error when more than
:data:`MAX_DROPPED_FRACTION` (5 %) of the annotations are dropped, and
:func:`check_training_set` (the start-of-run report) includes it;
:func:`raise_for_dropped_annotations` stops a run on that error.
"""
import json
import os
import os.path as osp
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

LEVELS = ('error', 'warning', 'info')
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')
#: Largest share of a json's annotations that training may drop before
#: :func:`check_dropped_annotations` reports an error (a few stray ids are
#: a warning; a third of the boxes gone is a broken json).
MAX_DROPPED_FRACTION = 0.05
#: ``Finding.code`` of the dropped-annotation finding.
DROPPED_ANNOTATIONS = 'dropped_annotations'
#: ``Finding.code`` of an annotation file that is not JSON / not COCO.
UNREADABLE_ANNOTATIONS = 'unreadable_annotations'


class DroppedAnnotationsError(ValueError):
    """More annotations than allowed would be dropped by training."""


@dataclass(frozen=True)
class Finding:
    """One problem in a data set.

    Args:
        level (str): ``'error'`` (training would be wrong or crash: fix it
            first), ``'warning'`` (probably unintended) or ``'info'`` (how
            the data will be treated).
        where (str): The file, image or annotation concerned.
        message (str): What is wrong and the fix.
        code (str): A stable name of the kind of finding for programs
            (e.g. :data:`DROPPED_ANNOTATIONS`); empty for most.
    """
    level: str
    where: str
    message: str
    code: str = ''

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(f'level must be one of {LEVELS}, got '
                             f'{self.level!r}.')

    def __str__(self) -> str:
        return f'{self.level.upper()}: {self.where}: {self.message}'


def has_errors(findings: Sequence[Finding]) -> bool:
    """Whether any finding is an error."""
    return any(f.level == 'error' for f in findings)


def load_coco(ann_file: str) -> dict:
    """Read a COCO json, with an error naming the file when it is not one.

    Args:
        ann_file (str): Path of the json.

    Returns:
        dict: The json with ``images``, ``annotations`` and ``categories``.
    """
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file {ann_file!r} does not '
                                'exist: give the path of a COCO json.')
    try:
        with open(ann_file, encoding='utf-8') as f:
            coco = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(
            f'annotation file {ann_file!r} is not valid JSON: {err.msg} at '
            f'line {err.lineno}, column {err.colno} (character {err.pos}). '
            'Fix the file (often a truncated copy or a hand edit) or '
            'export it again.') from None
    except UnicodeDecodeError as err:
        raise ValueError(f'annotation file {ann_file!r} is not UTF-8 text '
                         f'({err}): save it as UTF-8 JSON.') from None
    if not isinstance(coco, dict) or not all(
            k in coco for k in ('images', 'annotations', 'categories')):
        raise ValueError(f'{ann_file!r} is not a COCO detection json: it '
                         'needs the keys "images", "annotations" and '
                         '"categories".')
    return coco


def coco_category_names(coco: dict) -> List[str]:
    """Category names of a COCO json in category-id order."""
    cats = sorted(coco['categories'], key=lambda c: c['id'])
    return [c['name'] for c in cats]


# ----------------------------------------------------------- detection ---
def check_category_names(coco: dict,
                         prompts: Optional[Sequence[str]] = None,
                         name: str = 'json') -> List[Finding]:
    """Category names of the json against the prompts (the vocabulary).

    The prompts replace the category names in category-id order; the
    config's ``classes`` must have one entry per json category, else mmdet
    finds no annotation of a missing name and evaluation fails far from the
    cause.

    Args:
        coco (dict): The COCO json.
        prompts (Sequence[str], optional): The vocabulary that will be
            trained, one entry per category; None means the json's names.
        name (str): How to name the json in findings.

    Returns:
        list[Finding]
    """
    findings = []
    cats = coco['categories']
    if not cats:
        return [Finding('error', name, 'has no categories: add one '
                        '{"id": 1, "name": ...} per class.')]
    names = coco_category_names(coco)
    for n, count in Counter(n.strip().lower() for n in names).items():
        if count > 1:
            findings.append(Finding(
                'error', f'{name} categories',
                f'the name {n!r} is used by {count} categories: merge them '
                'or give each a distinct name.'))
    for c in cats:
        if not str(c.get('name', '')).strip():
            findings.append(Finding(
                'error', f'{name} category id {c.get("id")}',
                'has a blank name: name it (the name is the prompt).'))
    ids = {c['id'] for c in cats}
    for ann in coco['annotations']:
        if ann.get('category_id') not in ids:
            findings.append(Finding(
                'error', f'{name} annotation id {ann.get("id")}',
                f'has category_id {ann.get("category_id")!r}, which is not '
                f'a category (ids: {sorted(ids)}): fix the id or add the '
                'category.'))
    if prompts is None:
        return findings
    prompts = list(prompts)
    if len(prompts) != len(names):
        findings.append(Finding(
            'error', f'{name} categories',
            f'{len(names)} categories {names} but {len(prompts)} prompts '
            f'{prompts}: give exactly one prompt per category, in '
            'category-id order.'))
        return findings
    for i, (n, p) in enumerate(zip(names, prompts)):
        if n.strip().lower() != str(p).strip().lower():
            findings.append(Finding(
                'info', f'{name} category {n!r}',
                f'will be prompted as {p!r} (prompt {i}); the json keeps '
                'its name, the config uses the prompt.'))
    return findings


def check_unique_ids(coco: dict, name: str = 'json') -> List[Finding]:
    """Image and annotation ids used more than once (mmdet refuses them).

    Args:
        coco (dict): The COCO json.
        name (str): How to name the json in findings.

    Returns:
        list[Finding]
    """
    findings = []
    for key in ('images', 'annotations'):
        counts = Counter(item.get('id') for item in coco[key])
        for i, count in counts.items():
            if count > 1:
                findings.append(Finding(
                    'error', f'{name} {key[:-1]} id {i!r}',
                    f'is used by {count} {key}: give every one of the '
                    f'{key} a unique "id".'))
    return findings


def check_boxes(coco: dict, name: str = 'json') -> List[Finding]:
    """Boxes of zero area, wholly or partly outside their image.

    Args:
        coco (dict): The COCO json (boxes ``[x, y, w, h]`` in pixels).
        name (str): How to name the json in findings.

    Returns:
        list[Finding]
    """
    findings = []
    images = {img['id']: img for img in coco['images']}
    for ann in coco['annotations']:
        where = f'{name} annotation id {ann.get("id")}'
        img = images.get(ann.get('image_id'))
        if img is None:
            findings.append(Finding(
                'error', where,
                f'refers to image_id {ann.get("image_id")!r}, which is not '
                'in "images": fix the id or delete the annotation.'))
            continue
        where += f' (image {img.get("file_name")!r})'
        box = ann.get('bbox')
        if (not isinstance(box, (list, tuple)) or len(box) != 4
                or not all(isinstance(v, (int, float)) for v in box)):
            findings.append(Finding(
                'error', where, f'bbox {box!r} is not [x, y, w, h]: fix it '
                'or delete the annotation.'))
            continue
        x, y, w, h = box
        if w <= 0 or h <= 0:
            findings.append(Finding(
                'error', where,
                f'bbox {list(box)} has zero area: delete the annotation or '
                'give it its true width and height.'))
            continue
        width, height = img.get('width'), img.get('height')
        if width is None or height is None:
            continue  # reported by check_image_files
        x1, y1 = max(x, 0), max(y, 0)
        x2, y2 = min(x + w, width), min(y + h, height)
        if x2 <= x1 or y2 <= y1:
            findings.append(Finding(
                'error', where,
                f'bbox {list(box)} lies wholly outside the {width}x{height} '
                'image: fix its coordinates (x, y are the top-left corner, '
                'in pixels) or delete the annotation.'))
        elif (x1, y1, x2, y2) != (x, y, x + w, y + h):
            clipped = [x1, y1, x2 - x1, y2 - y1]
            findings.append(Finding(
                'warning', where,
                f'bbox {list(box)} extends outside the {width}x{height} '
                f'image: clip it to {clipped}.'))
    return findings


def check_empty_images(coco: dict,
                       filter_empty_gt: bool = True,
                       name: str = 'json') -> List[Finding]:
    """Images without annotations, and how training will treat them.

    Args:
        coco (dict): The COCO json.
        filter_empty_gt (bool): The training dataset's
            ``filter_cfg.filter_empty_gt``. Defaults to True (the generated
            configs' setting).
        name (str): How to name the json in findings.

    Returns:
        list[Finding]: One ``info`` line per image without annotations;
        an ``error`` when no image has any.
    """
    annotated = {a.get('image_id') for a in coco['annotations']}
    empty = [img for img in coco['images'] if img['id'] not in annotated]
    if coco['images'] and len(empty) == len(coco['images']):
        return [Finding('error', name, 'no image has an annotation: there '
                        'is nothing to train on; check "annotations".')]
    treatment = ('skipped in training (filter_cfg.filter_empty_gt=True; '
                 'set it False to train on it as background) and kept in '
                 'evaluation' if filter_empty_gt else
                 'trained on as background and kept in evaluation')
    return [
        Finding('info', f'{name} image {img.get("file_name")!r}',
                f'has no annotations: it will be {treatment}.')
        for img in empty
    ]


def _read_image(path: str):
    import cv2
    return cv2.imread(path, cv2.IMREAD_UNCHANGED)


def check_image_files(coco: dict, img_dir: str,
                      name: str = 'json') -> List[Finding]:
    """Image files that do not exist, do not decode or have another size.

    Args:
        coco (dict): The COCO json.
        img_dir (str): Folder that ``file_name`` is relative to.
        name (str): How to name the json in findings.

    Returns:
        list[Finding]
    """
    findings = []
    for img in coco['images']:
        file_name = img.get('file_name')
        path = osp.join(img_dir, str(file_name))
        where = f'image {path!r}'
        if not osp.isfile(path):
            findings.append(Finding(
                'error', where, f'does not exist ({name} image id '
                f'{img.get("id")}): copy it there, fix "file_name" or '
                '--img-dir.'))
            continue
        array = _read_image(path)
        if array is None:
            findings.append(Finding(
                'error', where, 'does not decode as an image: replace the '
                'file or remove the image and its annotations.'))
            continue
        height, width = array.shape[:2]
        if (img.get('width'), img.get('height')) != (width, height):
            findings.append(Finding(
                'error', where,
                f'is {width}x{height} but {name} says '
                f'{img.get("width")}x{img.get("height")}: fix "width" and '
                '"height" (and the boxes, if they were drawn on another '
                'size).'))
    return findings


@dataclass(frozen=True)
class DroppedAnnotations:
    """The annotations of a COCO json that training never sees.

    mmdet's ``CocoDataset`` keeps an annotation only when its
    ``category_id`` is the id of a category whose name is one of the
    dataset's ``classes`` and its ``image_id`` is an image of the json.

    Args:
        total (int): Annotations in the json.
        unknown_ids (dict[object, int]): ``category_id`` values that are no
            category of the json, with their counts.
        other_classes (dict[str, int]): Names of json categories that are
            not among the classes, with their counts.
        no_image (int): Annotations whose ``image_id`` is no image.
    """
    total: int
    unknown_ids: Dict[object, int]
    other_classes: Dict[str, int]
    no_image: int

    @property
    def dropped(self) -> int:
        """How many annotations are dropped."""
        return (sum(self.unknown_ids.values()) +
                sum(self.other_classes.values()) + self.no_image)

    @property
    def fraction(self) -> float:
        """The dropped share of all annotations (0 for an empty json)."""
        return self.dropped / self.total if self.total else 0.0

    def reasons(self) -> str:
        """Why they are dropped, with counts (one clause per reason)."""
        parts = []
        if self.unknown_ids:
            parts.append(
                f'{sum(self.unknown_ids.values())} have a category_id that '
                'is no category of the json ('
                + ', '.join(f'{k!r}: {v}' for k, v in sorted(
                    self.unknown_ids.items(), key=lambda kv: str(kv[0])))
                + ')')
        if self.other_classes:
            parts.append(
                f'{sum(self.other_classes.values())} belong to categories '
                'that are not among the classes of the config ('
                + ', '.join(f'{k!r}: {v}'
                            for k, v in sorted(self.other_classes.items()))
                + ')')
        if self.no_image:
            parts.append(f'{self.no_image} refer to an image_id that is no '
                         'image of the json')
        return '; '.join(parts)


def count_dropped_annotations(
        coco: dict,
        classes: Optional[Sequence[str]] = None) -> DroppedAnnotations:
    """Count the annotations training would drop (see
    :class:`DroppedAnnotations`).

    Args:
        coco (dict): The COCO json.
        classes (Sequence[str], optional): The dataset's ``classes``
            (``metainfo``); None: every category of the json is a class.

    Returns:
        DroppedAnnotations: The counts.
    """
    names = {c.get('id'): str(c.get('name')) for c in coco['categories']}
    kept = set(names.values()) if classes is None else {
        str(c) for c in classes
    }
    image_ids = {img.get('id') for img in coco['images']}
    unknown: Counter = Counter()
    other: Counter = Counter()
    no_image = 0
    for ann in coco['annotations']:
        cat = ann.get('category_id')
        if cat not in names:
            unknown[cat] += 1
        elif names[cat] not in kept:
            other[names[cat]] += 1
        elif ann.get('image_id') not in image_ids:
            no_image += 1
    return DroppedAnnotations(len(coco['annotations']), dict(unknown),
                              dict(other), no_image)


def check_dropped_annotations(
        coco: dict,
        classes: Optional[Sequence[str]] = None,
        name: str = 'json',
        max_fraction: float = MAX_DROPPED_FRACTION) -> List[Finding]:
    """One finding counting the annotations training drops.

    Args:
        coco (dict): The COCO json.
        classes (Sequence[str], optional): The dataset's ``classes``.
        name (str): How to name the json in findings.
        max_fraction (float): Above this share the finding is an error
            (:data:`MAX_DROPPED_FRACTION`), at or below a warning.

    Returns:
        list[Finding]: Empty when nothing is dropped, else one finding with
        ``code=DROPPED_ANNOTATIONS``.
    """
    counts = count_dropped_annotations(coco, classes)
    if not counts.dropped:
        return []
    level = 'error' if counts.fraction > max_fraction else 'warning'
    return [Finding(
        level, name,
        f'{counts.dropped} of its {counts.total} annotations '
        f'({100 * counts.fraction:.1f} %) are dropped when the dataset '
        f'loads: {counts.reasons()}. Fix the category ids / names (or the '
        "config's metainfo classes) so every annotation is a class; "
        f'training stops when more than {100 * max_fraction:g} % are '
        'dropped (max_dropped_fraction, docs/reliability.md).',
        code=DROPPED_ANNOTATIONS)]


def raise_for_dropped_annotations(findings: Sequence[Finding]) -> None:
    """Raise when a dropped-annotation finding is an error.

    Args:
        findings (Sequence[Finding]): E.g. from :func:`check_training_set`.

    Raises:
        DroppedAnnotationsError: Naming every json and its counts.
    """
    errors = [f for f in findings
              if f.code == DROPPED_ANNOTATIONS and f.level == 'error']
    if errors:
        raise DroppedAnnotationsError(
            'Training would silently lose annotations: ' + ' '.join(
                f'{f.where}: {f.message}' for f in errors))


def check_coco_detection(ann_file: str,
                         img_dir: str,
                         prompts: Optional[Sequence[str]] = None,
                         filter_empty_gt: bool = True) -> List[Finding]:
    """Every detection check on one COCO json.

    Args:
        ann_file (str): The COCO json.
        img_dir (str): Folder of its images.
        prompts (Sequence[str], optional): The vocabulary, one entry per
            category; None means the json's category names.
        filter_empty_gt (bool): See :func:`check_empty_images`.

    Returns:
        list[Finding]
    """
    coco = load_coco(ann_file)
    name = osp.basename(ann_file)
    return (check_category_names(coco, prompts, name) +
            check_unique_ids(coco, name) + check_boxes(coco, name) +
            check_empty_images(coco, filter_empty_gt, name) +
            check_image_files(coco, img_dir, name))


def check_prompt_tokens(prompts: Sequence,
                        tokenizer,
                        model_name: str = 'the language model'
                        ) -> List[Finding]:
    """Prompts with tokens unknown to the language model's tokenizer.

    Unknown tokens carry no meaning: a prompt that is mostly unknown
    tokens is an error (the text encoder refuses it), a few are a warning.

    Args:
        prompts (Sequence[str | Sequence[str]]): One entry per class (a
            name or a tuple of synonyms).
        tokenizer: A HuggingFace tokenizer (``unk_token_id``,
            ``convert_ids_to_tokens``, callable).
        model_name (str): How to name the model in findings.

    Returns:
        list[Finding]
    """
    findings = []
    unk = getattr(tokenizer, 'unk_token_id', None)
    if unk is None:
        return findings  # byte-level tokenizers represent everything
    for entry in prompts:
        for prompt in ([entry] if isinstance(entry, str) else entry):
            ids = tokenizer(prompt, add_special_tokens=False)['input_ids']
            num_unk = sum(i == unk for i in ids)
            if not num_unk:
                continue
            tokens = tokenizer.convert_ids_to_tokens(list(ids))
            level = 'error' if 2 * num_unk >= len(ids) else 'warning'
            findings.append(Finding(
                level, f'prompt {prompt!r}',
                f'tokenises to {tokens} in {model_name}: {num_unk} unknown '
                'token(s) carry no meaning; reword it in plain words or '
                'choose another language model.'))
    return findings


# -------------------------------------------------------- segmentation ---
def _stems(folder: str, suffix: Optional[str]) -> Dict[str, str]:
    """``stem -> file name`` of the images in a folder (recursive)."""
    out = {}
    for root, _, files in os.walk(folder):
        for f in sorted(files):
            if suffix is not None:
                if not f.endswith(suffix):
                    continue
                stem = f[:-len(suffix)]
            else:
                stem, ext = osp.splitext(f)
                if ext.lower() not in IMAGE_SUFFIXES:
                    continue
            rel = osp.relpath(osp.join(root, f), folder)
            out[osp.join(osp.dirname(rel), stem)] = rel
    return out


def check_label_maps_present(img_dir: str,
                             ann_dir: str,
                             img_suffix: Optional[str] = None,
                             seg_map_suffix: str = '.png') -> List[Finding]:
    """Images without a label map, label maps without an image, files that
    do not decode and label maps of another size than their image.

    Args:
        img_dir (str): Image folder.
        ann_dir (str): Label-map folder (same relative stems).
        img_suffix (str, optional): Image suffix; None accepts the usual
            image extensions.
        seg_map_suffix (str): Label-map suffix. Defaults to ``'.png'``.

    Returns:
        list[Finding]
    """
    findings = []
    for folder, what in ((img_dir, 'image'), (ann_dir, 'label-map')):
        if not osp.isdir(folder):
            return [Finding('error', folder, f'{what} folder does not '
                            'exist: give the right path.')]
    images = _stems(img_dir, img_suffix)
    maps = _stems(ann_dir, seg_map_suffix)
    if not images:
        findings.append(Finding('error', img_dir, 'holds no images: give '
                                'the folder of the images.'))
    for stem, rel in images.items():
        path = osp.join(img_dir, rel)
        if stem not in maps:
            findings.append(Finding(
                'error', f'image {path!r}',
                f'has no label map {stem + seg_map_suffix!r} in '
                f'{ann_dir!r}: add it or move the image out of the folder.'))
            continue
        image = _read_image(path)
        label = _read_image(osp.join(ann_dir, maps[stem]))
        for array, p, what in ((image, path, 'image'),
                               (label, osp.join(ann_dir, maps[stem]),
                                'label map')):
            if array is None:
                findings.append(Finding(
                    'error', f'{what} {p!r}', 'does not decode: replace '
                    'the file or remove the pair.'))
        if image is not None and label is not None and \
                image.shape[:2] != label.shape[:2]:
            findings.append(Finding(
                'error', f'label map {osp.join(ann_dir, maps[stem])!r}',
                f'is {label.shape[1]}x{label.shape[0]} but its image is '
                f'{image.shape[1]}x{image.shape[0]}: write the label map '
                'at the image size.'))
    for stem, rel in maps.items():
        if stem not in images:
            findings.append(Finding(
                'warning', f'label map {osp.join(ann_dir, rel)!r}',
                'has no image: it is not used; add the image or delete it.'))
    return findings


def _label_maps(ann_dir: str, seg_map_suffix: str):
    for stem, rel in _stems(ann_dir, seg_map_suffix).items():
        path = osp.join(ann_dir, rel)
        label = _read_image(path)
        if label is not None:
            yield path, label


def check_label_values(ann_dir: str,
                       num_classes: int,
                       ignore_index: int = 255,
                       seg_map_suffix: str = '.png') -> List[Finding]:
    """Label values outside ``0 .. num_classes - 1`` (other than the ignore
    index) and label maps that are not single-channel.

    Args:
        ann_dir (str): Label-map folder.
        num_classes (int): Number of classes (values ``0..K-1``).
        ignore_index (int): The value not trained on. Defaults to 255.
        seg_map_suffix (str): Label-map suffix. Defaults to ``'.png'``.

    Returns:
        list[Finding]
    """
    findings = []
    for path, label in _label_maps(ann_dir, seg_map_suffix):
        if label.ndim != 2:
            findings.append(Finding(
                'error', f'label map {path!r}',
                f'has {label.shape[2]} channels: save one channel of class '
                'indices (a colour image is not a label map).'))
            continue
        values = np.unique(label)
        bad = [int(v) for v in values
               if v != ignore_index and not 0 <= v < num_classes]
        if bad:
            findings.append(Finding(
                'error', f'label map {path!r}',
                f'holds values {bad[:10]} outside the {num_classes} classes '
                f'(0..{num_classes - 1}, ignore {ignore_index}): give one '
                'class name per value or map those values to '
                f'{ignore_index}.'))
    return findings


def check_empty_masks(ann_dir: str,
                      num_classes: int,
                      ignore_index: int = 255,
                      background: Optional[int] = 0,
                      seg_map_suffix: str = '.png') -> List[Finding]:
    """Label maps with nothing to learn and classes that never occur.

    Args:
        ann_dir (str): Label-map folder.
        num_classes (int): Number of classes.
        ignore_index (int): The value not trained on. Defaults to 255.
        background (int, optional): The background class, whose maps are
            reported as holding no foreground; None when there is none.
            Defaults to 0.
        seg_map_suffix (str): Label-map suffix. Defaults to ``'.png'``.

    Returns:
        list[Finding]
    """
    findings = []
    seen = set()
    any_map = False
    for path, label in _label_maps(ann_dir, seg_map_suffix):
        any_map = True
        values = set(int(v) for v in np.unique(label))
        seen |= values
        if values <= {ignore_index}:
            findings.append(Finding(
                'error', f'label map {path!r}',
                f'is all ignore ({ignore_index}): nothing is trained on it; '
                'label it or remove the pair.'))
        elif background is not None and values <= {background,
                                                   ignore_index}:
            findings.append(Finding(
                'info', f'label map {path!r}',
                'holds background only: it is trained on as background; '
                'label its objects if it has any.'))
    if any_map:
        for k in range(num_classes):
            if k not in seen:
                findings.append(Finding(
                    'warning', ann_dir,
                    f'class {k} occurs in no label map: it cannot be '
                    'learnt; check its value or drop the class.'))
    return findings


def check_segmentation(img_dir: str,
                       ann_dir: str,
                       classes: Sequence[str],
                       ignore_index: int = 255,
                       img_suffix: Optional[str] = None,
                       seg_map_suffix: str = '.png',
                       background: Optional[int] = 0) -> List[Finding]:
    """Every segmentation check on one image / label-map folder pair.

    Args:
        img_dir (str): Image folder.
        ann_dir (str): Label-map folder; value ``k`` is ``classes[k]``.
        classes (Sequence[str]): Class names.
        ignore_index (int): Value not trained on. Defaults to 255.
        img_suffix (str, optional): See :func:`check_label_maps_present`.
        seg_map_suffix (str): Label-map suffix. Defaults to ``'.png'``.
        background (int, optional): See :func:`check_empty_masks`.

    Returns:
        list[Finding]
    """
    findings = []
    names = [str(c).strip() for c in classes]
    if not names or not all(names):
        findings.append(Finding('error', 'classes', f'{list(classes)!r}: '
                                'give one non-blank name per label value.'))
    findings += check_label_maps_present(img_dir, ann_dir, img_suffix,
                                         seg_map_suffix)
    if osp.isdir(ann_dir):
        findings += check_label_values(ann_dir, len(names), ignore_index,
                                       seg_map_suffix)
        findings += check_empty_masks(ann_dir, len(names), ignore_index,
                                      background, seg_map_suffix)
    return findings


def format_findings(findings: Sequence[Finding]) -> str:
    """Findings one per line, errors first, and a summary line."""
    order = {level: i for i, level in enumerate(LEVELS)}
    lines = [str(f) for f in sorted(findings, key=lambda f: order[f.level])]
    counts = defaultdict(int)
    for f in findings:
        counts[f.level] += 1
    lines.append(', '.join(f'{counts[level]} {level}(s)' for level in LEVELS)
                 + (': fix the errors before training.'
                    if counts['error'] else ': no errors.'))
    return '\n'.join(lines)


def image_sizes_of(source: Union[dict, str]) -> List[tuple]:
    """``(height, width)`` of every image of a COCO json or image folder."""
    if isinstance(source, dict):
        return [(img['height'], img['width']) for img in source['images']
                if 'height' in img and 'width' in img]
    sizes = []
    for rel in _stems(source, None).values():
        array = _read_image(osp.join(source, rel))
        if array is not None:
            sizes.append(tuple(array.shape[:2]))
    return sizes


def check_usable_boxes(coco: dict, name: str = 'json') -> List[Finding]:
    """An error when no annotation has a box the pipeline can train on.

    A box of zero area, or one lying wholly outside its image, is dropped
    by the training pipeline (clipped to nothing); when every box is such
    a box, every image comes out of the pipeline empty and mmengine ends
    with ``Cannot find valid image after 1000!``.

    Args:
        coco (dict): The COCO json.
        name (str): How to name the json in findings.

    Returns:
        list[Finding]: Empty, or one ``error``.
    """
    if not coco['annotations']:
        return []  # reported by check_empty_images
    findings = check_boxes(coco, name)
    unusable = sum(1 for f in findings if f.level == 'error')
    if unusable < len(coco['annotations']):
        return []
    return [Finding(
        'error', name,
        f'none of its {unusable} boxes can be trained on (each has zero '
        'area, lies wholly outside its image or is malformed): fix the '
        'coordinates ([x, y, w, h] in pixels of the image named by '
        'image_id, x, y the top-left corner) or the image sizes.')]


def _dataset_leaves(dataset_cfg: dict) -> List[dict]:
    """The leaf dataset configs of a (wrapped / concatenated) config."""
    if 'datasets' in dataset_cfg:
        return [leaf for d in dataset_cfg['datasets']
                for leaf in _dataset_leaves(d)]
    if 'dataset' in dataset_cfg and 'ann_file' not in dataset_cfg:
        return _dataset_leaves(dataset_cfg['dataset'])
    return [dataset_cfg]


def _join_root(data_root: str, path: str) -> str:
    return path if not data_root or osp.isabs(path) else osp.join(
        data_root, path)


def dataset_classes(leaf: dict) -> Optional[List[str]]:
    """The ``classes`` a dataset config will have: its ``metainfo``, else
    the ``METAINFO`` of its registered type (mmdet's registry, when
    installed), else None.

    Args:
        leaf (dict): A (leaf) dataset config.

    Returns:
        list[str] | None: The class names.
    """
    metainfo = leaf.get('metainfo') or {}
    if metainfo.get('classes'):
        return [str(c) for c in metainfo['classes']]
    dataset_type = leaf.get('type')
    if not isinstance(dataset_type, str):
        return None
    try:
        from mmdet.registry import DATASETS
    except ImportError:  # mmdet not installed: the json's names count
        return None
    dataset_cls = DATASETS.get(dataset_type.split('.')[-1])
    classes = (getattr(dataset_cls, 'METAINFO', None) or {}).get('classes')
    return [str(c) for c in classes] if classes else None


def check_training_set(
        dataset_cfg: dict,
        read_images: bool = False,
        max_ann_mb: float = 100.,
        max_dropped_fraction: float = MAX_DROPPED_FRACTION) -> List[Finding]:
    """The checks of this module on the training set of a config.

    Args:
        dataset_cfg (dict): ``train_dataloader.dataset`` of a config (a
            dataset wrapper's inner ``dataset`` / ``datasets`` are
            followed).
        read_images (bool): Also decode every image (slow on large sets).
        max_ann_mb (float): COCO jsons larger than this are not read (an
            ``info`` says so; ``tools/analysis_tools/check_dataset.py``
            checks them).
        max_dropped_fraction (float): Dropped annotations above this share
            of a json are an error (:func:`check_dropped_annotations`).

    Returns:
        list[Finding]: Findings of every COCO detection set (including the
        count of dropped annotations, and an error naming a json that is
        not valid JSON / not COCO), and with ``read_images`` of every mmseg
        image / label-map folder pair.
    """
    findings = []
    for leaf in _dataset_leaves(dict(dataset_cfg)):
        root = leaf.get('data_root') or ''
        prefix = leaf.get('data_prefix') or {}
        ann_file = leaf.get('ann_file') or ''
        if str(ann_file).endswith('.json'):
            path = _join_root(root, ann_file)
            if osp.isfile(path) and \
                    osp.getsize(path) > max_ann_mb * 2**20:
                findings.append(Finding(
                    'info', path, f'larger than {max_ann_mb:g} MB: not '
                    'checked at the start of training; run '
                    'tools/analysis_tools/check_dataset.py on it.'))
                continue
            try:
                coco = load_coco(path)
            except ValueError as err:  # not JSON / not COCO: name the file
                findings.append(Finding('error', path, str(err),
                                        code=UNREADABLE_ANNOTATIONS))
                continue
            name = osp.basename(path)
            filter_cfg = leaf.get('filter_cfg') or {}
            findings += check_dropped_annotations(
                coco, dataset_classes(leaf), name, max_dropped_fraction)
            findings += check_boxes(coco, name) + check_usable_boxes(
                coco, name) + check_empty_images(
                    coco, bool(filter_cfg.get('filter_empty_gt', False)),
                    name)
            if read_images:
                img_dir = _join_root(root, prefix.get('img', ''))
                findings += check_image_files(coco, img_dir, name)
        elif 'seg_map_path' in prefix and read_images:
            img_dir = _join_root(root, prefix.get('img_path', ''))
            ann_dir = _join_root(root, prefix['seg_map_path'])
            findings += check_label_maps_present(
                img_dir, ann_dir, leaf.get('img_suffix'),
                leaf.get('seg_map_suffix', '.png'))
    return findings
