"""Your own data in one call: check it, then write a language-guided config
and its stock twin.

Design notes: ``docs/design.md`` (module notes)."""
import hashlib
import json
import math
import os
import os.path as osp
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmvlm.structures.prompts_file import (is_prompts_file,
                                           load_prompts_file,
                                           write_prompts_file)
from mmvlm.datasets.checks import (Finding, _read_image, _stems,
                                   check_coco_detection, check_prompt_tokens,
                                   check_segmentation,
                                   coco_category_names, has_errors,
                                   image_sizes_of, load_coco)
from . import project_recipe as recipe
from .project_recipe import Code

TASKS = ('det', 'seg')
#: the language model of the recipe (its tokenizer checks prompts)
LANGUAGE_MODEL = recipe.LANGUAGE_MODEL
#: offline name lists the language-guided recipe samples negatives from
NEGATIVE_POOLS = dict(
    det=('mmdet.LVISV1Dataset', 'mmdet.CocoDataset'),
    seg=('mmseg.ADE20KDataset', 'mmseg.COCOStuffDataset'))
#: pool negatives per training image, (min, max)
NUM_POOL_NEGATIVES = (8, 16)
MAX_IMAGE_SIZE = 1024
MAX_CROP_SIZE = 256  # training crops of the CPU recipe
#: default schedule: this many epochs, within these iterations
EPOCHS = 10
ITERS_RANGE = (100, 1000)
#: what a re-run compares the files against (one hash per file written)
MANIFEST = 'new_project.json'
#: folder (in the output folder) of the training data without held-out
#: names: label maps with their pixels 255, jsons without their boxes
SEEN_DIR = 'seen_labels'
IGNORE_INDEX = 255
PALETTE = [(220, 20, 60), (0, 130, 200), (60, 180, 75), (255, 225, 25),
           (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
           (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
           (170, 110, 40), (128, 0, 0), (170, 255, 195), (128, 128, 0),
           (255, 215, 180), (0, 0, 128), (128, 128, 128), (255, 255, 255)]


class DataCheckError(ValueError):
    """The data checks found errors; ``findings`` holds them all."""

    def __init__(self, findings: Sequence[Finding]):
        self.findings = list(findings)
        lines = [str(f) for f in self.findings if f.level == 'error']
        super().__init__('the data checks found errors; fix them and run '
                         'again:\n' + '\n'.join(lines))


@dataclass
class NewProject:
    """What :func:`new_project` wrote.

    Attributes:
        lg_config (str): The language-guided config.
        stock_config (str): Its stock twin.
        prompts_file (str): The prompts file both configs read.
        commands (list[str]): The two train commands, then (with held-out
            names) the per-prompt test command.
        findings (list[Finding]): The data checks' findings (no errors)
            and the files kept because they were edited.
        settings (dict): The values chosen from the data.
    """
    lg_config: str
    stock_config: str
    prompts_file: str = ''
    commands: List[str] = field(default_factory=list)
    findings: List[Finding] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def palette_for(num_classes: int, background_first: bool = False) -> list:
    """One distinct colour per class (black first for a background)."""
    colours = list(PALETTE)
    while len(colours) < num_classes:  # more classes: deterministic extra
        rng = np.random.RandomState(len(colours))
        colours.append(tuple(int(v) for v in rng.randint(0, 256, 3)))
    out = colours[:num_classes]
    if background_first and num_classes:
        out = [(0, 0, 0)] + colours[:num_classes - 1]
    return out


def image_size_from(sizes: Sequence[tuple]) -> int:
    """Median longest side rounded up to 32, at most ``MAX_IMAGE_SIZE``."""
    if not sizes:
        raise ValueError('no readable training image: cannot choose an '
                         'image size; check the image folder.')
    side = float(np.median([max(h, w) for h, w in sizes]))
    return int(min(MAX_IMAGE_SIZE, max(32, math.ceil(side / 32) * 32)))


def schedule_from(num_train: int,
                  batch_size: Optional[int] = None,
                  max_iters: Optional[int] = None) -> tuple:
    """Batch size (at most 4, as the CPU recipe) and iterations: ``EPOCHS``
    (10) epochs of the training images, within ``ITERS_RANGE`` (100 to
    1000; the demo's pretrained models train 150)."""
    if num_train < 1:
        raise ValueError('the training set has no image.')
    batch_size = batch_size or min(4, num_train)
    if max_iters is None:
        per_epoch = math.ceil(num_train / batch_size)
        low, high = ITERS_RANGE
        max_iters = int(min(high, max(low, EPOCHS * per_epoch)))
    elif int(max_iters) < 2:
        raise ValueError(
            f'max_iters={max_iters}: the generated schedule is a linear '
            'warm-up then a cosine phase, one iteration each at least; '
            f'give max_iters >= 2 (the default is {EPOCHS} epochs, '
            f'{ITERS_RANGE[0]} to {ITERS_RANGE[1]} iterations).')
    return batch_size, int(max_iters)


def time_estimate(task: str, batch_size: int, side: int,
                  max_iters: int) -> Tuple[float, str]:
    """Minutes of one training run on one CPU thread, and a sentence.

    Args:
        task (str): ``'det'`` or ``'seg'``.
        batch_size (int): Images per iteration.
        side (int): Side of the training images (detection: the crop).
        max_iters (int): Iterations.

    Returns:
        tuple[float, str]: The minutes (the demo's measured cost scaled by
        images and pixels, loading included) and how it was estimated.
    """
    per_iter = recipe.seconds_per_iteration(task, batch_size, side)
    minutes = (per_iter * max_iters + 20) / 60
    shown = f'{minutes:.0f}' if minutes >= 10 else f'{minutes:.1f}'
    return minutes, (
        f'about {shown} min per model on one free CPU thread '
        f'({per_iter:.2f} s per iteration of {batch_size} images of '
        f'{side} px, from the demo\'s measured cost; a busy or '
        'oversubscribed machine is slower)')


def _prompts(prompts, classes: Sequence[str]) -> List[str]:
    if prompts is None:
        return list(classes)
    if is_prompts_file(prompts):
        return list(load_prompts_file(prompts).prompts)
    if isinstance(prompts, str):
        from mmvlm.structures.vocabulary import split_prompts
        prompts = split_prompts(prompts)
    return list(prompts)


def _common_suffix(folder: str) -> str:
    suffixes = {
        osp.splitext(rel)[1]
        for rel in _stems(folder, None).values()
    }
    if len(suffixes) != 1:
        raise ValueError(f'{folder!r} mixes image suffixes {sorted(suffixes)}'
                         ': convert the images to one format.')
    return suffixes.pop()


def _token_findings(prompts: Sequence) -> List[Finding]:
    """:func:`check_prompt_tokens` with the recipe's language model."""
    try:
        from mmvlm.models.text_encoders.hf_loading import build_tokenizer
        tokenizer = build_tokenizer(None, name_or_path=LANGUAGE_MODEL)
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        return [Finding('warning', f'language model {LANGUAGE_MODEL!r}',
                        f'its tokenizer did not load ({e}); the prompts '
                        'were not checked for unknown tokens.')]
    return check_prompt_tokens(prompts, tokenizer, LANGUAGE_MODEL)


def _held_out(held_out, names: Sequence[str], task: str) -> List[str]:
    """The held-out names, checked against the classes."""
    if held_out is None:
        return []
    if isinstance(held_out, str):
        from mmvlm.structures.vocabulary import split_prompts
        held_out = split_prompts(held_out)
    held_out = [str(h).strip() for h in held_out if str(h).strip()]
    unknown = [h for h in held_out if h not in names]
    if unknown:
        raise ValueError(
            f'held-out names {unknown} are not classes of the data '
            f'{list(names)}: give class names exactly as in the annotations '
            '(the names of the prompts file).')
    if task == 'seg' and names and names[0] in held_out:
        raise ValueError(
            f'held-out name {names[0]!r} is label 0, the background of the '
            'language-guided recipe (every pixel needs a class): hold out '
            'other classes.')
    if len(set(held_out)) == len(names):
        raise ValueError(f'every class {list(names)} is held out: nothing '
                         'is left to train on.')
    return list(dict.fromkeys(held_out))


def new_project(task: str,
                out_dir: str,
                train: Optional[str] = None,
                val: Optional[str] = None,
                img_dir: Optional[str] = None,
                val_img_dir: Optional[str] = None,
                prompts=None,
                ann_dir: Optional[str] = None,
                val_ann_dir: Optional[str] = None,
                classes=None,
                name: Optional[str] = None,
                batch_size: Optional[int] = None,
                max_iters: Optional[int] = None,
                check_tokens: bool = True,
                held_out=None) -> NewProject:
    """Check the data, then write a language-guided config and its stock
    twin into ``out_dir``.

    Detection (``task='det'``): ``train`` / ``val`` COCO jsons, ``img_dir``
    (and ``val_img_dir``, default ``img_dir``) the folders their file names
    are relative to. Segmentation (``task='seg'``): ``img_dir`` / ``ann_dir``
    (training images and label maps, PNG class indices), ``val_img_dir`` /
    ``val_ann_dir``, and ``classes`` (one name per label value).

    Args:
        task (str): ``'det'`` or ``'seg'``.
        out_dir (str): Folder for the two configs (created).
        prompts (str | Sequence, optional): One prompt per class (a string
            of prompts separated by full stops, or a list), or a prompts
            file (``.yaml`` / ``.yml`` / ``.json``: names, synonyms and
            templates per class; its names must be the dataset's classes,
            and for segmentation it may replace ``classes``); default: the
            class names. Either way a prompts file is written next to the
            configs, and both configs read it.
        name (str, optional): Stem of the config names; default: the name
            of ``out_dir``.
        batch_size (int, optional): Default: ``min(4, #train images)``.
        max_iters (int, optional): Default: 10 epochs, 100 to 1000
            iterations.
        check_tokens (bool): Check that the prompts tokenise to known
            tokens of the recipe's language model. Defaults to True.
        held_out (str | Sequence[str], optional): Class names never trained
            on (names separated by full stops, or a list): ignored in
            training (pixels 255 / boxes dropped, in copies under
            ``<out_dir>/seen_labels``), asked by the language-guided
            config's test split with every other name.
        Other arguments as above.

    Returns:
        NewProject: The config paths, the commands, the findings and the
        values chosen from the data.

    Raises:
        DataCheckError: The checks found errors (nothing is written).
        ValueError: Bad arguments, or a kept (edited) prompts file whose
            classes are not the data's (nothing is written).
    """
    if task not in TASKS:
        raise ValueError(f'task must be one of {TASKS}, got {task!r}.')
    out_dir = osp.abspath(out_dir)
    name = name or osp.basename(out_dir.rstrip(os.sep))
    val_img_dir = val_img_dir or img_dir
    if task == 'det':
        if not (train and val and img_dir):
            raise ValueError('detection needs train=, val= (COCO jsons) '
                             'and img_dir=.')
        coco = load_coco(train)
        names = coco_category_names(coco)
        source = _prompts_source(prompts, names, f'the categories of {train}')
        prompt_list = _prompts(prompts, names)
        findings = check_coco_detection(train, img_dir, prompt_list)
        if osp.abspath(val) != osp.abspath(train):
            findings += check_coco_detection(val, val_img_dir, prompt_list)
        if check_tokens:
            findings += _token_findings(_all_words(source, prompt_list))
        if has_errors(findings):
            raise DataCheckError(findings)
        sizes = image_sizes_of(coco)
        num_train = len(coco['images'])
        settings = dict(train=osp.abspath(train), val=osp.abspath(val),
                        img_dir=osp.abspath(img_dir) + os.sep,
                        val_img_dir=osp.abspath(val_img_dir) + os.sep)
    else:
        if classes is None and is_prompts_file(prompts):
            classes = list(load_prompts_file(prompts).names)
        if not (img_dir and ann_dir and val_ann_dir and classes):
            raise ValueError('segmentation needs img_dir=, ann_dir=, '
                             'val_img_dir=, val_ann_dir= and classes= (or '
                             'a prompts file as prompts=).')
        names = _prompts(classes, [])
        source = _prompts_source(prompts, names, '--classes')
        prompt_list = _prompts(prompts, names)
        if len(prompt_list) != len(names):
            raise ValueError(f'{len(names)} classes {names} but '
                             f'{len(prompt_list)} prompts {prompt_list}: '
                             'give one prompt per class.')
        findings = _expected_absent(
            check_segmentation(img_dir, ann_dir, names), names,
            _held_out(held_out, names, task))
        findings += check_segmentation(val_img_dir, val_ann_dir, names)
        if check_tokens:
            findings += _token_findings(_all_words(source, prompt_list))
        if has_errors(findings):
            raise DataCheckError(findings)
        sizes = image_sizes_of(img_dir)
        num_train = len(_stems(img_dir, None))
        settings = dict(img_dir=osp.abspath(img_dir) + os.sep,
                        ann_dir=osp.abspath(ann_dir) + os.sep,
                        val_img_dir=osp.abspath(val_img_dir) + os.sep,
                        val_ann_dir=osp.abspath(val_ann_dir) + os.sep,
                        img_suffix=_common_suffix(img_dir),
                        seg_map_suffix='.png')
    held = _held_out(held_out, names, task)
    max_iters_given = max_iters is not None
    image_size = image_size_from(sizes)
    batch_size, max_iters = schedule_from(num_train, batch_size, max_iters)
    crop_size = min(image_size, MAX_CROP_SIZE)
    minutes, estimate = time_estimate(
        task, batch_size, crop_size if task == 'det' else image_size,
        max_iters)
    seen = [n for n in names if n not in held]
    settings.update(
        classes=list(names), prompts=prompt_list, held_out=held,
        seen_classes=seen,
        palette=palette_for(len(names), background_first=task == 'seg'),
        image_size=image_size, crop_size=crop_size,
        batch_size=batch_size, max_iters=max_iters, num_train=num_train,
        minutes=round(minutes, 1), time_estimate=estimate,
        iters_given=max_iters_given)
    settings['seen_palette'] = [
        c for n, c in zip(names, settings['palette']) if n not in held]

    # every file's text first: a kept prompts file is checked before
    # anything is written
    manifest = _load_manifest(out_dir)
    prompts_name, prompts_text = _prompts_text(source, names, prompt_list,
                                               name)
    prompts_path = osp.join(out_dir, prompts_name)
    if _kept(prompts_path, prompts_text, manifest):
        # the user's edited file stays and the configs read it: it must
        # still name the data's classes
        load_prompts_file(prompts_path).check_classes(
            names, f'the data (kept, edited prompts file {prompts_path})')
    settings['prompts_file'] = prompts_name
    if held:
        settings.update(_seen_labels_paths(task, settings, out_dir))
    lg_name, stock_name = f'lg_{name}.py', f'stock_{name}.py'
    texts = {
        lg_name: _config_text(task, True, settings),
        stock_name: _config_text(task, False, settings),
    }
    os.makedirs(out_dir, exist_ok=True)
    if held:
        _write_seen_labels(task, settings, names, held)
    if not (source is not None
            and osp.abspath(source.path) == prompts_path):
        findings += _write_unless_edited(prompts_path, prompts_text,
                                         manifest)
    written = []
    for file_name, text in texts.items():
        path = osp.join(out_dir, file_name)
        findings += _write_unless_edited(path, text, manifest)
        written.append(path)
    _save_manifest(out_dir, manifest)
    from mmengine.config import Config
    for path in written:  # the traps cannot occur: checked, not assumed
        findings += check_config(Config.fromfile(path))
    commands = [
        f'python tools/train.py {p} --work-dir work_dirs/{name}/{w}'
        for p, w in zip(written, ('lg', 'stock'))
    ]
    if held:
        commands.append(held_out_test_command(
            written[0], f'work_dirs/{name}/lg/iter_{max_iters}.pth', held))
    return NewProject(written[0], written[1], prompts_path, commands,
                      findings, settings)


def _expected_absent(findings: List[Finding], names: Sequence[str],
                     held_out: Sequence[str]) -> List[Finding]:
    """A held-out class that no training label map holds (a converter
    already made it 255) is what was asked: an info, not a warning."""
    out = []
    for f in findings:
        hit = [i for i, n in enumerate(names) if n in held_out
               and f.message.startswith(f'class {i} occurs in no label map')]
        if hit:
            f = Finding('info', f.where,
                        f'class {hit[0]} ({names[hit[0]]!r}) occurs in no '
                        'training label map: held out, as asked.')
        out.append(f)
    return out


def held_out_test_command(config: str, checkpoint: str,
                          held_out: Sequence[str]) -> str:
    """``tools/test.py`` scoring each held-out name alone on its class
    (a segmentor: binary against the background class)."""
    prompts = '. '.join(held_out)
    return (f'python tools/test.py {config} {checkpoint} --prompts '
            f'"{prompts}" --prompt-mode each')


# ------------------------------------------------------------ the files
def _sha(text: str) -> str:
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def _file_sha(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _load_manifest(out_dir: str) -> Dict[str, str]:
    """File name -> hash of what new_project last wrote there."""
    path = osp.join(out_dir, MANIFEST)
    if not osp.isfile(path):
        return {}
    try:
        with open(path, encoding='utf-8') as f:
            return dict(json.load(f).get('files', {}))
    except (ValueError, AttributeError):
        return {}  # unreadable: every existing file counts as edited


def _save_manifest(out_dir: str, manifest: Dict[str, str]) -> None:
    data = dict(
        note='written by tools/misc/new_project.py: the hash of each file '
        'it wrote; a file whose hash differs (you edited it) is kept on a '
        're-run and the fresh version is written beside it.',
        files=dict(sorted(manifest.items())))
    with open(osp.join(out_dir, MANIFEST), 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=1)
        f.write('\n')


def _kept(path: str, text: str, manifest: Dict[str, str]) -> bool:
    """Whether ``path`` holds an edit to keep: it exists, differs from
    ``text`` and from what new_project wrote there last."""
    if not osp.isfile(path):
        return False
    current = _file_sha(path)
    return current != _sha(text) and manifest.get(
        osp.basename(path)) != current


def beside(path: str) -> str:
    """Where the fresh version of a kept file goes: ``<stem>.new<ext>``."""
    stem, ext = osp.splitext(path)
    return f'{stem}.new{ext}'


def _write_unless_edited(path: str, text: str,
                         manifest: Dict[str, str]) -> List[Finding]:
    """Write ``text`` to ``path`` unless the file there was edited; then
    keep it, write ``text`` beside it and say so."""
    if _kept(path, text, manifest):
        fresh = beside(path)
        with open(fresh, 'w', encoding='utf-8') as f:
            f.write(text)
        manifest[osp.basename(fresh)] = _sha(text)
        return [Finding(
            'warning', path,
            'kept as it is: it differs from what new_project.py wrote '
            f'there (edited by you?). The fresh version is {fresh}; merge '
            'what you need by hand (the configs keep reading '
            f'{osp.basename(path)}).')]
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    manifest[osp.basename(path)] = _sha(text)
    return []


def _prompts_text(source, names: Sequence[str], prompt_list: Sequence,
                  name: str) -> Tuple[str, str]:
    """File name and content of the project's prompts file: a copy of the
    user's, or written from the class names and prompts."""
    if source is not None:
        suffix = osp.splitext(source.path)[1].lower()
        with open(source.path, encoding='utf-8') as f:
            return f'prompts_{name}{suffix}', f.read()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_prompts_file(osp.join(tmp, 'p.yaml'), names,
                                  prompt_list)
        with open(path, encoding='utf-8') as f:
            return f'prompts_{name}.yaml', f.read()


# ---------------------------------------------------- held-out labels
def _seen_labels_paths(task: str, s: dict, out_dir: str) -> dict:
    """Where the training (and validation) data without the held-out
    names go."""
    root = osp.join(out_dir, SEEN_DIR)
    if task == 'det':
        same = s['val'] == s['train']
        return dict(seen_train=osp.join(root, 'train.json'),
                    seen_val=osp.join(root,
                                      'train.json' if same else 'val.json'))
    return dict(seen_ann_dir=osp.join(root, 'train') + os.sep,
                seen_val_ann_dir=osp.join(root, 'val') + os.sep)


def _write_seen_labels(task: str, s: dict, names: Sequence[str],
                       held_out: Sequence[str]) -> None:
    """Copies of the annotations without the held-out names: label maps
    whose held-out pixels are 255 and seen labels renumbered in the order
    of the seen classes; COCO jsons without the held-out categories and
    their boxes."""
    if task == 'det':
        for src, dst in ((s['train'], s['seen_train']),
                         (s['val'], s['seen_val'])):
            coco = load_coco(src)
            drop = {c['id'] for c in coco['categories']
                    if c['name'] in held_out}
            out = dict(coco)
            out['categories'] = [c for c in coco['categories']
                                 if c['id'] not in drop]
            out['annotations'] = [a for a in coco['annotations']
                                  if a['category_id'] not in drop]
            os.makedirs(osp.dirname(dst), exist_ok=True)
            with open(dst, 'w', encoding='utf-8') as f:
                json.dump(out, f)
        return
    import cv2
    lut = np.full(256, IGNORE_INDEX, np.uint8)
    for new, label in enumerate(
            i for i, n in enumerate(names) if n not in held_out):
        lut[label] = new
    for src, dst in ((s['ann_dir'], s['seen_ann_dir']),
                     (s['val_ann_dir'], s['seen_val_ann_dir'])):
        for rel in _stems(src, None).values():
            if not rel.lower().endswith('.png'):
                continue
            label = cv2.imread(osp.join(src, rel), cv2.IMREAD_UNCHANGED)
            out = osp.join(dst, rel)
            os.makedirs(osp.dirname(out), exist_ok=True)
            cv2.imwrite(out, lut[label])


# ---------------------------------------------------------- the configs
_PROMPTS_BLOCK = '''
# Class names, prompts, synonyms and templates: the prompts file next to
# this config, read by the inference tools too (--prompts-file). Keep the
# import below `_base_` (mmengine reads a config whose first statement is
# an import as a lazy-import config).
from mmvlm.structures import load_prompts_file as __load_prompts_file
prompts_file = '{{{{fileDirname}}}}/{prompts_file}'
__prompts = __load_prompts_file(prompts_file)
classes = __prompts.names  # the class names of the annotations
prompts = __prompts.entries  # what the language model reads, per class
'''

_HELD_OUT_BLOCK = '''
{comment}
held_out = {held_out!r}
train_classes = tuple(c for c in classes if c not in held_out)
train_prompts = [p for c, p in zip(classes, prompts) if c not in held_out]
'''


def _comment(text: str) -> str:
    """``text`` as ``#`` lines of at most 79 columns."""
    import textwrap
    return '\n'.join(textwrap.wrap(text, 77, initial_indent='# ',
                                    subsequent_indent='# '))


def _header(kind: str, sources: dict) -> str:
    lines = [f'# {kind}, generated by tools/misc/new_project.py.',
             "# The demo's pretrained recipe (ImageNet EfficientNet-Lite0"
             + (', frozen MiniLM' if kind.startswith('Language') else '')
             + ';',
             '# AdamW, warm-up + cosine), written out whole; what depends '
             'on the data',
             '# was chosen from it. Data:']
    lines += [f'#   {k}: {v}' for k, v in sources.items()]
    return '\n'.join(lines) + '\n'


def _negatives(task: str, texts: str) -> dict:
    """The negative-prompt step of the language-guided training pipeline:
    the dataset's other (trained) classes and names from offline lists."""
    step = dict(type='RandomSampleNegativeTexts',
                num_negatives=Code(f'len({texts})'),
                negative_pool=Code('negative_pool'),
                num_pool_negatives=NUM_POOL_NEGATIVES,
                pool_exclude=Code('prompts_file'),
                max_num_texts=Code(f'len({texts}) + '
                                   f'{NUM_POOL_NEGATIVES[1]}'))
    if task == 'seg':
        step['background_label'] = 0
    return step


_NEGATIVES_NOTE = '''
# Negative prompts: every training image also sees the other classes and
# names of other things (offline lists from mmdet / mmseg metainfo), so
# the model learns the words, not only objectness. Names that share a word
# with your classes (held-out ones included), and those under
# negatives.exclude in the prompts file, are never negatives.
negative_pool = {pool!r}
'''


def _config_text(task: str, language_guided: bool, s: dict) -> str:
    """The whole text of one generated config."""
    held = s['held_out']
    train_classes = 'train_classes' if held else 'classes'
    train_texts = 'train_prompts' if held else 'prompts'
    model_name = 'ATSS' if task == 'det' else 'semantic FPN'
    kind = (f'Language-guided {model_name}' if language_guided else
            f'Stock {model_name} (the baseline)')
    sources = {k: s[k] for k in ('train', 'val', 'img_dir', 'val_img_dir',
                                 'ann_dir', 'val_ann_dir') if k in s}
    parts = [_header(kind, sources),
             f'_base_ = {recipe.render(recipe.BASES[task], 0, 9)}\n',
             _PROMPTS_BLOCK.format(prompts_file=s['prompts_file'])]
    if held:
        note = ('The test split asks every name, held-out ones included '
                '(tools/test.py --prompts "<held-out names>" --prompt-mode '
                'each).' if language_guided else 'A stock model cannot '
                'name them: it is tested on the seen names.')
        parts.append(_HELD_OUT_BLOCK.format(
            held_out=tuple(held), comment=_comment(
                'Held-out names (new_project.py --held-out): never trained '
                f'on. Training reads copies of the annotations without them '
                f'({SEEN_DIR}/: pixels 255 / boxes dropped) and the seen '
                f'names only. {note}')))
    seen_palette = s['seen_palette'] if held else s['palette']
    side = ('\n# training crops\ncrop_size = {}'.format(s['crop_size'])
            if task == 'det' else '')
    epochs = s['max_iters'] * s['batch_size'] / s['num_train']
    rule = ('given with new_project.py --max-iters' if s['iters_given'] else
            f'the default: {EPOCHS} epochs within {ITERS_RANGE[0]} to '
            f'{ITERS_RANGE[1]} iterations')
    schedule_note = _comment(
        f"{epochs:.1f} epochs of {s['num_train']} training images at batch "
        f"{s['batch_size']} ({rule}): {s['time_estimate']}. Change it with "
        'new_project.py --max-iters N (a re-run keeps the files you '
        'edited).')
    parts.append(f'''
metainfo = dict(classes={train_classes}, palette={seen_palette!r})
# median longest side of the training images, rounded up to 32
image_size = {s['image_size']}{side}
{schedule_note}
max_iters = {s['max_iters']}
batch_size = {s['batch_size']}
__warmup_iters = min(20, max_iters // 2)
''')
    if language_guided:
        parts.append('text_meta_keys = ' + recipe.render(
            recipe.TEXT_META_KEYS[task]) + '\n')
    parts.append('\n' + recipe.assignments(recipe.runtime(task)))
    model_fn = recipe.det_model if task == 'det' else recipe.seg_model
    model = model_fn(language_guided)
    head = model['bbox_head' if task == 'det' else 'decode_head']
    head['num_classes'] = Code(f'len({train_classes})')
    parts.append('\n' + recipe.assignments(dict(model=model)))
    negatives = None
    if language_guided:
        parts.append(_NEGATIVES_NOTE.format(pool=NEGATIVE_POOLS[task]))
        negatives = _negatives(task, train_texts)
    pipelines_fn = (recipe.det_pipelines if task == 'det' else
                    recipe.seg_pipelines)
    train_pipeline, val_pipeline = pipelines_fn(
        language_guided, Code(train_texts), negatives)
    if language_guided and held:
        for step in val_pipeline:
            if step['type'] == 'LoadClassTexts':
                step['classes'] = Code(train_texts)
    pipelines = dict(train_pipeline=train_pipeline,
                     val_pipeline=val_pipeline)
    if language_guided and held:
        pipelines['test_pipeline'] = pipelines_fn(True, Code('prompts'),
                                                  None)[1]
    parts.append('\n' + recipe.assignments(pipelines))
    data_fn = _det_data if task == 'det' else _seg_data
    parts.append('\n# The complete data section: nothing else is read.\n')
    parts.append(recipe.assignments(
        data_fn(s, language_guided and bool(held))))
    parts.append('\n' + recipe.assignments(recipe.schedule()))
    return ''.join(parts)


def _loader(dataset: dict, train: bool, batch) -> dict:
    loader = dict(batch_size=batch, num_workers=1, persistent_workers=True)
    loader['sampler'] = dict(type='InfiniteSampler' if train else
                             'DefaultSampler', shuffle=train)
    loader['dataset'] = dataset
    return loader


def _det_data(s: dict, full_test: bool) -> dict:
    held = bool(s['held_out'])
    train_ann = s['seen_train'] if held else s['train']
    val_ann = s['seen_val'] if held else s['val']

    def dataset(ann, img_dir, pipeline, meta, test):
        out = dict(type='CocoDataset', data_root='', metainfo=meta,
                   ann_file=ann, data_prefix=dict(img=img_dir))
        if test:
            out['test_mode'] = True
        else:
            out['filter_cfg'] = dict(filter_empty_gt=True, min_size=8)
        out['pipeline'] = Code(pipeline)
        return out

    out = dict(
        train_dataloader=_loader(dataset(train_ann, s['img_dir'],
                                         'train_pipeline', Code('metainfo'),
                                         False), True, Code('batch_size')),
        val_dataloader=_loader(dataset(val_ann, s['val_img_dir'],
                                       'val_pipeline', Code('metainfo'),
                                       True), False, 1),
        val_evaluator=dict(type='CocoMetric', ann_file=val_ann,
                           metric='bbox', format_only=False))
    if full_test:
        meta = dict(classes=Code('classes'), palette=s['palette'])
        out['test_dataloader'] = _loader(
            dataset(s['val'], s['val_img_dir'], 'test_pipeline', meta,
                    True), False, 1)
        out['test_evaluator'] = dict(type='CocoMetric', ann_file=s['val'],
                                     metric='bbox', format_only=False)
    else:
        out['test_dataloader'] = Code('val_dataloader')
        out['test_evaluator'] = Code('val_evaluator')
    return out


def _seg_data(s: dict, full_test: bool) -> dict:
    held = bool(s['held_out'])
    ann_dir = s['seen_ann_dir'] if held else s['ann_dir']
    val_ann_dir = s['seen_val_ann_dir'] if held else s['val_ann_dir']

    def dataset(img_dir, seg_dir, pipeline, meta):
        return dict(type='BaseSegDataset', data_root='', metainfo=meta,
                    img_suffix=s['img_suffix'],
                    seg_map_suffix=s['seg_map_suffix'],
                    data_prefix=dict(img_path=img_dir,
                                     seg_map_path=seg_dir),
                    pipeline=Code(pipeline))

    out = dict(
        train_dataloader=_loader(dataset(s['img_dir'], ann_dir,
                                         'train_pipeline', Code('metainfo')),
                                 True, Code('batch_size')),
        val_dataloader=_loader(dataset(s['val_img_dir'], val_ann_dir,
                                       'val_pipeline', Code('metainfo')),
                               False, 1),
        val_evaluator=dict(type='IoUMetric', iou_metrics=['mIoU', 'mDice']))
    if full_test:
        meta = dict(classes=Code('classes'), palette=s['palette'])
        out['test_dataloader'] = _loader(
            dataset(s['val_img_dir'], s['val_ann_dir'], 'test_pipeline',
                    meta), False, 1)
    else:
        out['test_dataloader'] = Code('val_dataloader')
    out['test_evaluator'] = Code('val_evaluator')
    return out


def _prompts_source(prompts, names: Sequence[str], where: str):
    """The user's prompts file, checked against the dataset's classes
    (None when the prompts are given as text)."""
    if not is_prompts_file(prompts):
        return None
    source = load_prompts_file(prompts)
    source.check_classes(names, where)
    return source


def _all_words(source, prompt_list: Sequence[str]) -> List[str]:
    """Every prompt and synonym the language model will read."""
    if source is None:
        return list(prompt_list)
    return [p for c in source.classes for p in c.prompts]


# ------------------------------------------------- checks of a config ---
_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _leaves(dataset: dict) -> List[dict]:
    """The leaf dataset configs of a (wrapped / concatenated) dataset."""
    if 'datasets' in dataset:
        return [leaf for d in dataset['datasets'] for leaf in _leaves(d)]
    if 'dataset' in dataset and 'ann_file' not in dataset:
        return _leaves(dataset['dataset'])
    return [dataset]


def _resolve(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) else osp.join(root, path)


def check_config(cfg, max_images: int = 200) -> List[Finding]:
    """The three traps of a new data set in any config, with the fix.

    1. A COCO data set (or the COCO evaluator) whose json does not have
       the classes of the dataset's ``metainfo``, or that is not found:
       mmdet then loads no annotation of those classes and evaluation fails
       with ``IndexError`` in ``results2json``. Typical cause: a trailing
       ``train_dataloader = dict(dataset=dict(pipeline=...))`` copied from a
       demo config replaced the data section, and a relative ``data_root``
       is resolved against the working directory.
    2. ``metainfo.palette`` with another number of colours than
       ``metainfo.classes`` (a base config's palette merged into yours).
    3. A segmentation ``data_preprocessor.size`` (the fixed pad size)
       smaller than the images the training pipeline produces (computed
       from the pipeline's resize / crop steps and the image sizes).

    Args:
        cfg (Config | dict): The config (e.g. ``Config.fromfile``).
        max_images (int): At most this many training images are read for
            their sizes (trap 3).

    Returns:
        list[Finding]: One error per trap found, naming the fix.
    """
    findings: List[Finding] = []
    for loader in _LOADERS:
        if not cfg.get(loader):
            continue
        for leaf in _leaves(dict(cfg[loader]['dataset'])):
            findings += _check_classes_in_json(leaf, loader)
            findings += _check_palette(leaf, loader)
    findings += _check_same_classes(cfg)
    findings += _check_evaluator(cfg)
    findings += _check_pad_size(cfg, max_images)
    return findings


def _check_classes_in_json(leaf: dict, loader: str) -> List[Finding]:
    ann_file = str(leaf.get('ann_file') or '')
    if not ann_file.endswith('.json'):
        return []
    path = _resolve(leaf.get('data_root') or '', ann_file)
    classes = list((leaf.get('metainfo') or {}).get('classes') or [])
    return _classes_vs_json(classes, path, f'{loader}.dataset')


def _classes_vs_json(classes: Sequence[str], path: str,
                     where: str) -> List[Finding]:
    if not osp.isfile(path):
        return [Finding(
            'error', where,
            f'annotation file {path!r} not found (a relative data_root is '
            f'resolved against the working directory {os.getcwd()!r}): '
            'give an absolute data_root / ann_file, and check that no '
            'later `train_dataloader = dict(dataset=dict(...))` line (as '
            'at the end of the demo configs) replaced your data section.')]
    if not classes:
        return []
    names = coco_category_names(load_coco(path))
    missing = [c for c in classes if c not in names]
    if not missing:
        return []
    return [Finding(
        'error', where,
        f'classes {missing} of metainfo are not categories of {path} '
        f'({names[:10]}{" ..." if len(names) > 10 else ""}): mmdet loads no '
        'annotation of them and evaluation fails with IndexError in '
        "results2json. Fix: set metainfo=dict(classes=<the json's category "
        'names>) (the words the model reads go in the prompts file / '
        'LoadClassTexts), and check that no later `train_dataloader = '
        'dict(dataset=dict(...))` line replaced your data section.')]


def _classes_of(cfg, loader: str) -> Optional[tuple]:
    if not cfg.get(loader):
        return None
    leaf = _leaves(dict(cfg[loader]['dataset']))[0]
    classes = (leaf.get('metainfo') or {}).get('classes')
    return tuple(classes) if classes else None


def _check_same_classes(cfg) -> List[Finding]:
    """Training and evaluation on the same classes (else one of the data
    sections was replaced, e.g. by a base config's)."""
    reference = _classes_of(cfg, 'val_dataloader')
    train = _classes_of(cfg, 'train_dataloader')
    if reference is None or train is None or train == reference:
        return []
    return [Finding(
        'error', 'train_dataloader.dataset',
        f'trains on the classes {list(train)[:10]} but validates on '
        f'{list(reference)[:10]}: one data section is not yours. Typical '
        'cause: a trailing `train_dataloader = dict(dataset=dict('
        'pipeline=...))` (as at the end of the demo configs) below your '
        'data section replaced it, and the base config\'s data came back. '
        'Fix: set the pipeline inside your own train_dataloader (or '
        'generate the config with tools/misc/new_project.py).')]


def _check_evaluator(cfg) -> List[Finding]:
    findings = []
    for key, loader in (('val_evaluator', 'val_dataloader'),
                        ('test_evaluator', 'test_dataloader')):
        evaluator = cfg.get(key)
        if not isinstance(evaluator, dict) or not cfg.get(loader):
            continue
        ann_file = str(evaluator.get('ann_file') or '')
        if not ann_file.endswith('.json'):
            continue
        leaves = _leaves(dict(cfg[loader]['dataset']))
        classes = list((leaves[0].get('metainfo') or {}).get('classes')
                       or [])
        findings += _classes_vs_json(classes, ann_file, key)
    return findings


def _check_palette(leaf: dict, loader: str) -> List[Finding]:
    meta = leaf.get('metainfo') or {}
    classes, palette = meta.get('classes'), meta.get('palette')
    if not classes or palette is None or isinstance(palette, str):
        return []
    if len(palette) == len(classes):
        return []
    return [Finding(
        'error', f'{loader}.dataset.metainfo',
        f'palette has {len(palette)} colours for {len(classes)} classes '
        f'{list(classes)[:10]} (mmengine merges a base config\'s palette '
        'into your metainfo dict; the dataset then fails with "palette '
        'does not match classes"). Fix: give one colour per class, '
        'metainfo=dict(classes=..., palette=[(r, g, b), ...]), or '
        "metainfo=dict(_delete_=True, classes=...) to drop the base's.")]


def _largest_after_resize(pipeline: Sequence[dict],
                          sizes: Sequence[Tuple[int, int]]
                          ) -> Optional[Tuple[int, int]]:
    """Largest (h, w) the pipeline makes of images of the given sizes."""
    if not sizes:
        return None
    out = [tuple(float(v) for v in s) for s in sizes]
    for step in pipeline:
        kind = step.get('type', '')
        if kind in ('Resize', 'RandomResize') and step.get('scale'):
            scale = step['scale']
            if isinstance(scale, (int, float)):
                scale = (scale, scale)
            ratio = max(step.get('ratio_range') or (1.0, 1.0))
            w, h = float(scale[0]) * ratio, float(scale[1]) * ratio
            if step.get('keep_ratio', kind == 'RandomResize'):
                long, short = max(w, h), min(w, h)
                out = [(sh * f, sw * f) for sh, sw in out
                       for f in [min(long / max(sh, sw), short / min(sh, sw))]]
            else:
                out = [(h, w) for _ in out]
        elif kind == 'RandomCrop' and step.get('crop_size'):
            ch, cw = step['crop_size']
            out = [(min(sh, ch), min(sw, cw)) for sh, sw in out]
    return (int(math.ceil(max(h for h, _ in out) - 1e-6)),
            int(math.ceil(max(w for _, w in out) - 1e-6)))


def _check_pad_size(cfg, max_images: int) -> List[Finding]:
    model = cfg.get('model') or {}
    pre = model.get('data_preprocessor') or {}
    size = pre.get('size')
    loader = cfg.get('train_dataloader')
    if not size or not loader:
        return []
    findings = []
    for leaf in _leaves(dict(loader['dataset'])):
        prefix = leaf.get('data_prefix') or {}
        if 'img_path' not in prefix:
            continue
        img_dir = _resolve(leaf.get('data_root') or '', prefix['img_path'])
        if not osp.isdir(img_dir):
            continue
        sizes = image_sizes_of_folder(img_dir, max_images)
        largest = _largest_after_resize(leaf.get('pipeline') or [], sizes)
        if largest is None:
            continue
        pad_h, pad_w = int(size[0]), int(size[1])
        if largest[0] > pad_h or largest[1] > pad_w:
            need = [int(math.ceil(v / 32) * 32) for v in largest]
            findings.append(Finding(
                'error', 'model.data_preprocessor.size',
                f'pads to {(pad_h, pad_w)} (h, w) but the training pipeline '
                f'makes images of up to {largest} from {img_dir}: the pad '
                'size must change with the data (a base config pads to '
                'its own images). Fix: model=dict(data_preprocessor=dict('
                f'size=({need[0]}, {need[1]}))) or resize smaller.'))
    return findings


def image_sizes_of_folder(folder: str, limit: int = 200) -> List[tuple]:
    """``(height, width)`` of up to ``limit`` images of a folder."""
    sizes = []
    for rel in list(_stems(folder, None).values())[:limit]:
        array = _read_image(osp.join(folder, rel))
        if array is not None:
            sizes.append(tuple(array.shape[:2]))
    return sizes
