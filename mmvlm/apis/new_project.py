"""Your own data in one call: check it, then write a language-guided config
and its stock twin (issue 13).

The configs written here INHERIT the demo recipes (``projects/demo/configs``)
through ``_base_`` and override only what depends on the data: the complete
data section (roots, annotation files, ``metainfo`` with a palette sized to
the classes, pipelines), the class count, the image size, the
normalisation, the pad size, the batch size and the schedule. Pipelines
are not copied: each generated config takes its base's pipelines and
replaces the arguments of a few transforms (the class texts, the sizes).

The class names, prompts, synonyms and templates live in a prompts file
written next to the configs (``prompts_<name>.yaml``, see
:mod:`mmvlm.structures.prompts_file`): both configs read their classes
from it and the language-guided one its prompts, and the inference tools
read the same file (``--prompts-file``), so training and querying use the
same words. The language-guided recipe trains with negative prompts: the
dataset's other classes and names from LVIS / COCO (detection) or ADE20K
/ COCO-Stuff (segmentation), offline from mmdet's / mmseg's metainfo.

By construction the three traps of issue 13 cannot occur:

1. the data section is written whole and last, so nothing of the base's
   data (the demo's tree / brain data) remains;
2. ``metainfo.palette`` has one colour per class;
3. the segmentation ``data_preprocessor.size`` (the pad size) is computed
   from the data; detection pads to a multiple of 32.

This module imports neither mmdet nor mmseg.
"""
import math
import os
import os.path as osp
import shutil
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from mmvlm.structures.prompts_file import (is_prompts_file,
                                           load_prompts_file,
                                           write_prompts_file)
from mmvlm.datasets.checks import (Finding, _read_image, _stems,
                                   check_coco_detection, check_prompt_tokens,
                                   check_segmentation,
                                   coco_category_names, has_errors,
                                   image_sizes_of, load_coco)

TASKS = ('det', 'seg')
#: demo recipes the generated configs inherit: (language-guided, stock)
BASE_CONFIGS = dict(
    det=('lg-atss_r18-tiny_minilm_trees.py', 'atss_r18-tiny_trees.py'),
    seg=('lg-fpn_r18-tiny_minilm_brain.py', 'fpn_r18-tiny_brain.py'))
#: the language model of the demo recipes (its tokenizer checks prompts)
LANGUAGE_MODEL = 'minilm'
#: offline name lists the language-guided recipe samples negatives from
NEGATIVE_POOLS = dict(
    det=('mmdet.LVISV1Dataset', 'mmdet.CocoDataset'),
    seg=('mmseg.ADE20KDataset', 'mmseg.COCOStuffDataset'))
#: pool negatives per training image, (min, max)
NUM_POOL_NEGATIVES = (8, 16)
MAX_IMAGE_SIZE = 1024
MAX_CROP_SIZE = 256  # training crops of the CPU recipe
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
        commands (list[str]): The two train commands.
        findings (list[Finding]): The data checks' findings (no errors).
        settings (dict): The values chosen from the data.
    """
    lg_config: str
    stock_config: str
    prompts_file: str = ''
    commands: List[str] = field(default_factory=list)
    findings: List[Finding] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def demo_config_dir() -> str:
    """``projects/demo/configs`` of this source checkout."""
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    path = osp.join(root, 'projects', 'demo', 'configs')
    if not osp.isdir(path):
        raise FileNotFoundError(
            f'{path!r} does not exist: new_project inherits the demo '
            'recipes of a source checkout of mmvlm; install mmvlm with '
            '`pip install -e .` from a clone.')
    return path


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
    """Batch size (at most 4, as the CPU recipe) and iterations: about 50
    epochs, between 100 and 3000 iterations."""
    if num_train < 1:
        raise ValueError('the training set has no image.')
    batch_size = batch_size or min(4, num_train)
    if max_iters is None:
        per_epoch = math.ceil(num_train / batch_size)
        max_iters = int(min(3000, max(100, 50 * per_epoch)))
    elif int(max_iters) < 2:
        raise ValueError(
            f'max_iters={max_iters}: the generated schedule is a linear '
            'warm-up then a cosine phase, one iteration each at least; '
            'give max_iters >= 2 (the default is about 50 epochs).')
    return batch_size, int(max_iters)


def normalisation_from(paths: Sequence[str], limit: int = 50) -> tuple:
    """Per-channel RGB mean and std (0..255) of up to ``limit`` images."""
    total = np.zeros(3)
    square = np.zeros(3)
    count = 0
    for path in list(paths)[:limit]:
        img = _read_image(path)
        if img is None:
            continue
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        pixels = img[..., :3][..., ::-1].reshape(-1, 3).astype(np.float64)
        total += pixels.sum(0)
        square += (pixels**2).sum(0)
        count += len(pixels)
    if not count:
        raise ValueError('no readable image to compute the normalisation.')
    mean = total / count
    std = np.sqrt(np.maximum(square / count - mean**2, 1.0))
    return ([round(float(v), 3) for v in mean],
            [round(float(v), 3) for v in std])


def _base_path(base: str, out_dir: str) -> str:
    """Relative inside the checkout (moves with it), else absolute."""
    root = osp.dirname(osp.dirname(osp.dirname(base)))
    inside = osp.commonpath([root, out_dir]) == root
    return osp.relpath(base, out_dir) if inside else base


_OVERRIDE_FN = '''
def __override(pipeline, **args_by_type):
    """The base's list (pipeline, schedulers) with the arguments of the
    named transform types replaced; nothing else changes."""
    out = []
    for step in pipeline:
        step = dict(step)
        step.update(args_by_type.get(step['type'], {}))
        out.append(step)
    return out


def __with_step(pipeline, step):
    """The pipeline with ``step``: its arguments replace those of a step
    of the same type, else it is inserted before the packing step."""
    if any(s['type'] == step['type'] for s in pipeline):
        return __override(pipeline, **{step['type']: step})
    out = [dict(s) for s in pipeline]
    packs = [i for i, s in enumerate(out) if s['type'].startswith('Pack')]
    out.insert(packs[-1] if packs else len(out), dict(step))
    return out
'''

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

_NEGATIVES_BLOCK = '''
# Negative prompts: every training image also sees the other classes and
# names of other things (offline lists from mmdet / mmseg metainfo), so
# the model learns the words, not only objectness. Names that share a word
# with your classes, and those under negatives.exclude in the prompts
# file, are never negatives.
negative_pool = {pool!r}
__negatives = dict(
    type='RandomSampleNegativeTexts',
    num_negatives=len(classes),
    negative_pool=negative_pool,
    num_pool_negatives={num_pool!r},
    pool_exclude=prompts_file,
    max_num_texts=len(classes) + {max_pool}{extra})
'''


def _header(kind: str, base: str, sources: dict) -> str:
    lines = [f'# {kind}, generated by tools/misc/new_project.py.',
             f'# Inherits {osp.basename(base)} (pipelines, model, '
             'optimiser) and',
             '# overrides only what depends on your data. Data:']
    lines += [f'#   {k}: {v}' for k, v in sources.items()]
    return '\n'.join(lines) + '\n'


def _fmt(value) -> str:
    return repr(tuple(value)) if isinstance(value, (list, tuple)) else \
        repr(value)


def _det_body(s: dict) -> str:
    return f'''
data_root = ''  # the paths below are absolute
{_PROMPTS_BLOCK.format(prompts_file=s['prompts_file'])}
metainfo = dict(classes=classes, palette={s['palette']!r})
# median longest side of the training images, rounded up to 32
image_size = {s['image_size']}
crop_size = {s['crop_size']}  # training crops
max_iters = {s['max_iters']}  # about 50 epochs of {s['num_train']} images
batch_size = {s['batch_size']}
__warmup_iters = min(30, max(1, max_iters // 2))
{_OVERRIDE_FN}
model = dict(
    # RGB mean / std of your training images
    data_preprocessor=dict(
        mean={s['mean']!r}, std={s['std']!r}, pad_size_divisor=32),
    bbox_head=dict(num_classes=len(classes)))

train_pipeline = __override(
    _base_.train_pipeline,
    LoadClassTexts=dict(classes=prompts),
    Resize=dict(scale=(image_size, image_size)),
    RandomCrop=dict(crop_size=(crop_size, crop_size))){s['negatives']}
test_pipeline = __override(
    _base_.test_pipeline,
    LoadClassTexts=dict(classes=prompts),
    Resize=dict(scale=(image_size, image_size)))

# The complete data section, last: nothing of the base's data remains.
train_dataloader = dict(
    batch_size=batch_size,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file={s['train']!r},
        data_prefix=dict(img={s['img_dir']!r}),
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file={s['val']!r},
        data_prefix=dict(img={s['val_img_dir']!r}),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file={s['val']!r})
test_evaluator = val_evaluator

train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = __override(
    _base_.param_scheduler,
    LinearLR=dict(end=__warmup_iters),
    CosineAnnealingLR=dict(begin=__warmup_iters, end=max_iters))
default_hooks = dict(checkpoint=dict(interval=max_iters))
'''


def _seg_body(s: dict) -> str:
    return f'''
data_root = ''  # the paths below are absolute
{_PROMPTS_BLOCK.format(prompts_file=s['prompts_file'])}
metainfo = dict(classes=classes, palette={s['palette']!r})
# median longest side of the training images, rounded up to 32
image_size = {s['image_size']}
# pad size: the largest training resize (x1.1) rounded up to 32
pad_size = {s['pad_size']}
max_iters = {s['max_iters']}  # about 50 epochs of {s['num_train']} images
batch_size = {s['batch_size']}
__warmup_iters = min(30, max(1, max_iters // 2))
{_OVERRIDE_FN}
model = dict(
    # RGB mean / std of your training images; pad to the data's size
    data_preprocessor=dict(
        mean={s['mean']!r}, std={s['std']!r},
        size=(pad_size, pad_size)),
    decode_head=dict(num_classes=len(classes)))

train_pipeline = __override(
    _base_.train_pipeline,
    LoadClassTexts=dict(classes=prompts),
    RandomResize=dict(scale=(image_size, image_size))){s['negatives']}
test_pipeline = __override(
    _base_.test_pipeline, LoadClassTexts=dict(classes=prompts))

# The complete data section, last: nothing of the base's data remains.
train_dataloader = dict(
    batch_size=batch_size,
    dataset=dict(
        type='BaseSegDataset',
        data_root=data_root,
        metainfo=metainfo,
        img_suffix={s['img_suffix']!r},
        seg_map_suffix={s['seg_map_suffix']!r},
        data_prefix=dict(
            img_path={s['img_dir']!r},
            seg_map_path={s['ann_dir']!r}),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    dataset=dict(
        type='BaseSegDataset',
        data_root=data_root,
        metainfo=metainfo,
        img_suffix={s['img_suffix']!r},
        seg_map_suffix={s['seg_map_suffix']!r},
        data_prefix=dict(
            img_path={s['val_img_dir']!r},
            seg_map_path={s['val_ann_dir']!r}),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = __override(
    _base_.param_scheduler,
    LinearLR=dict(end=__warmup_iters),
    CosineAnnealingLR=dict(begin=__warmup_iters, end=max_iters))
default_hooks = dict(checkpoint=dict(interval=max_iters))
'''


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
                check_tokens: bool = True) -> NewProject:
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
        max_iters (int, optional): Default: about 50 epochs.
        check_tokens (bool): Check that the prompts tokenise to known
            tokens of the recipe's language model. Defaults to True.
        Other arguments as above.

    Returns:
        NewProject: The config paths, the train commands, the findings
        and the values chosen from the data.

    Raises:
        DataCheckError: The checks found errors (nothing is written).
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
        paths = [osp.join(img_dir, i['file_name']) for i in coco['images']]
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
        findings = check_segmentation(img_dir, ann_dir, names)
        findings += check_segmentation(val_img_dir, val_ann_dir, names)
        if check_tokens:
            findings += _token_findings(_all_words(source, prompt_list))
        if has_errors(findings):
            raise DataCheckError(findings)
        sizes = image_sizes_of(img_dir)
        paths = [osp.join(img_dir, r) for r in _stems(img_dir, None).values()]
        num_train = len(paths)
        settings = dict(img_dir=osp.abspath(img_dir) + os.sep,
                        ann_dir=osp.abspath(ann_dir) + os.sep,
                        val_img_dir=osp.abspath(val_img_dir) + os.sep,
                        val_ann_dir=osp.abspath(val_ann_dir) + os.sep,
                        img_suffix=_common_suffix(img_dir),
                        seg_map_suffix='.png')
    image_size = image_size_from(sizes)
    batch_size, max_iters = schedule_from(num_train, batch_size, max_iters)
    mean, std = normalisation_from(paths)
    settings.update(
        classes=list(names), prompts=prompt_list,
        palette=palette_for(len(names), background_first=task == 'seg'),
        image_size=image_size, crop_size=min(image_size, MAX_CROP_SIZE),
        pad_size=int(math.ceil(image_size * 1.1 / 32) * 32),
        batch_size=batch_size, max_iters=max_iters, num_train=num_train,
        mean=mean, std=std)

    os.makedirs(out_dir, exist_ok=True)
    prompts_file = _write_prompts(source, names, prompt_list, out_dir, name)
    settings['prompts_file'] = osp.basename(prompts_file)
    base_dir = demo_config_dir()
    lg_base, stock_base = (osp.join(base_dir, b) for b in BASE_CONFIGS[task])
    body_of = _det_body if task == 'det' else _seg_body
    model = 'ATSS' if task == 'det' else 'semantic FPN'
    sources = {k: settings[k] for k in settings
               if k in ('train', 'val', 'img_dir', 'val_img_dir', 'ann_dir',
                        'val_ann_dir')}
    written = []
    for kind, base, prefix in (
            (f'Language-guided {model}', lg_base, 'lg_'),
            (f'Stock {model} (the baseline)', stock_base, 'stock_')):
        path = osp.join(out_dir, f'{prefix}{name}.py')
        negatives = _negatives(task) if prefix == 'lg_' else ''
        with open(path, 'w', encoding='utf-8') as f:
            f.write(_header(kind, base, sources))
            f.write(f'_base_ = {_base_path(base, out_dir)!r}\n')
            f.write(body_of(dict(settings, negatives=negatives)))
        written.append(path)
    from mmengine.config import Config
    for path in written:  # the traps cannot occur: checked, not assumed
        findings += check_config(Config.fromfile(path))
    commands = [
        f'python tools/train.py {p} --work-dir work_dirs/{name}/{w}'
        for p, w in zip(written, ('lg', 'stock'))
    ]
    return NewProject(written[0], written[1], prompts_file, commands,
                      findings, settings)


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


def _write_prompts(source, names: Sequence[str], prompt_list: Sequence,
                   out_dir: str, name: str) -> str:
    """The project's prompts file: a copy of the user's, or written from
    the class names and prompts."""
    if source is not None:
        suffix = osp.splitext(source.path)[1].lower()
        path = osp.join(out_dir, f'prompts_{name}{suffix}')
        if osp.abspath(source.path) != path:
            shutil.copyfile(source.path, path)
        return path
    path = osp.join(out_dir, f'prompts_{name}.yaml')
    return write_prompts_file(path, names, prompt_list)


def _negatives(task: str) -> str:
    """The negative-prompt step of the language-guided training pipeline."""
    extra = ',\n    background_label=0' if task == 'seg' else ''
    block = _NEGATIVES_BLOCK.format(
        pool=NEGATIVE_POOLS[task], num_pool=NUM_POOL_NEGATIVES,
        max_pool=NUM_POOL_NEGATIVES[1], extra=extra)
    return (block + 'train_pipeline = __with_step(train_pipeline, '
            '__negatives)')


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
    """The three traps of issue 13 in any config, with the fix.

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
