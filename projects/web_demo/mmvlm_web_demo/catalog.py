"""The models and example scenes the page offers.

By default these are the main job's models (``bash tools/run_demo.sh``
writes them to ``work_dirs/demo/<key>/``): the many-concept open-vocabulary
detector first, then the tree-crown detector and the brain segmentor, each
language-guided model with its stock twin (same architecture and data, a
closed class layer instead of text). A run that has not finished is still
listed: picking it gives a message naming the command that trains it.
``--config`` / ``--checkpoint`` and ``--onnx`` add models of one's own.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from projects.demo.mmvlm_demo import concept_names, demo_models
from projects.demo.mmvlm_demo import vocabulary_splits as splits

#: Tasks of the page.
DETECTION = 'detection'
SEGMENTATION = 'segmentation'
#: How a model is run.
LANGUAGE_GUIDED = 'language-guided'
STOCK = 'stock'
ONNX = 'onnx'

#: Example scenes per demo task.
EXAMPLES_PER_TASK = 6


@dataclass
class Example:
    """One example scene.

    Args:
        path (str): Image file.
        prompts (str): What to type for it (the names it holds).
        note (str): What the names are (e.g. never seen in training).
    """
    path: str
    prompts: str
    note: str = ''


@dataclass
class ModelEntry:
    """One model of the page.

    Args:
        key (str): Unique name shown in the model list.
        task (str): :data:`DETECTION` or :data:`SEGMENTATION`.
        kind (str): :data:`LANGUAGE_GUIDED`, :data:`STOCK` or :data:`ONNX`.
        config (str, optional): Config file (torch models).
        checkpoint (str, optional): Checkpoint file, or the ONNX export
            folder.
        missing (str, optional): Why the model cannot be loaded (an
            unfinished run); the page shows it when the model is picked.
        twin (str, optional): Key of the stock twin of a language-guided
            model.
        seen (tuple[str]): Names trained on ('' when unknown).
        held_out (tuple[str]): Names of the same world never trained on.
        examples (list[Example]): Example scenes.
        default_prompts (str): Prompts the box starts with.
    """
    key: str
    task: str
    kind: str
    config: Optional[str] = None
    checkpoint: Optional[str] = None
    missing: Optional[str] = None
    twin: Optional[str] = None
    seen: Tuple[str, ...] = ()
    held_out: Tuple[str, ...] = ()
    examples: List[Example] = field(default_factory=list)
    default_prompts: str = ''

    def name_status(self, name: str) -> str:
        """``'seen'``, ``'held-out'`` or ``'free text'`` for a prompt."""
        if name in self.seen:
            return 'seen in training'
        if name in self.held_out:
            return 'held out (never trained)'
        return 'free text' if self.seen else 'unknown'


def _coco_examples(ann_file: str, image_root: str, limit: int,
                   note: str) -> List[Example]:
    """Example scenes of a COCO json with the names they hold."""
    if not osp.isfile(ann_file):
        return []
    with open(ann_file) as f:
        coco = json.load(f)
    names = {c['id']: c['name'] for c in coco['categories']}
    held: Dict[int, List[str]] = {}
    for ann in coco['annotations']:
        entry = held.setdefault(ann['image_id'], [])
        name = names[ann['category_id']]
        if name not in entry:
            entry.append(name)
    out = []
    for image in coco['images'][:limit]:
        path = osp.join(image_root, image['file_name'])
        if osp.isfile(path):
            out.append(Example(path, '. '.join(held.get(image['id'], [])),
                               note))
    return out


def _folder_examples(folder: str, prompts: str, limit: int,
                     note: str) -> List[Example]:
    if not osp.isdir(folder):
        return []
    files = sorted(f for f in os.listdir(folder)
                   if f.lower().endswith(('.png', '.jpg', '.jpeg')))
    step = max(1, len(files) // limit)
    return [Example(osp.join(folder, f), prompts, note)
            for f in files[::step][:limit]]


def demo_examples(task: str, data_root: str) -> List[Example]:
    """Example scenes of one demo task from its test split.

    Args:
        task (str): ``'concepts'``, ``'trees'`` or ``'brain'``.
        data_root (str): The demo data folder (``data/demo``).

    Returns:
        list[Example]: Up to :data:`EXAMPLES_PER_TASK` scenes; concepts:
        scenes whose every concept was held out of training.
    """
    if task == 'concepts':
        root = osp.join(data_root, 'concepts')
        return _coco_examples(
            osp.join(root, 'annotations', 'test_held_out_noto.json'),
            osp.join(root, 'images'), EXAMPLES_PER_TASK,
            'every name in this scene was held out of training')
    if task == 'trees':
        held = '. '.join(splits.HELD_OUT['trees'])
        return _folder_examples(
            osp.join(data_root, 'trees', 'images'), f'tree. {held}',
            EXAMPLES_PER_TASK, '"dead tree" and "living tree" were held out')
    held = '. '.join(splits.HELD_OUT['brain'])
    return _folder_examples(
        osp.join(data_root, 'brain', 'img_dir', 'test'),
        f'background. left precentral gyrus. {held}', EXAMPLES_PER_TASK,
        'the hippocampi and the right-hand regions were held out')


def _names_of(task: str) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    if task == 'concepts':
        return (tuple(concept_names.SEEN),
                tuple(concept_names.TEST_HELD_OUT +
                      concept_names.VAL_HELD_OUT))
    return tuple(splits.SEEN[task]), tuple(splits.HELD_OUT[task])


def demo_catalog(work_dir: str = 'work_dirs/demo',
                 data_root: str = 'data/demo') -> List[ModelEntry]:
    """The main job's language-guided models and their stock twins.

    Args:
        work_dir (str): The main job's work dir (``$MMVLM_DEMO_WORK_DIR``).
        data_root (str): The demo data (example scenes).

    Returns:
        list[ModelEntry]: Many-concept, tree and brain models; those whose
        run has not finished carry ``missing``.
    """
    pairs = (('concepts_lg', 'concepts_stock'), ('det_lg', 'det_stock'),
             ('seg_lg', 'seg_stock'))
    table = {m['key']: m for m in demo_models.DEMO_MODELS}
    entries = []
    for lg_key, stock_key in pairs:
        for key in (lg_key, stock_key):
            spec = table[key]
            checkpoint, missing = None, None
            try:
                checkpoint = spec['find_checkpoint'](work_dir)
            except FileNotFoundError as e:
                missing = (f'{key}: {e} Or start the page with '
                           '--config/--checkpoint.')
            seen, held_out = _names_of(spec['task'])
            examples = demo_examples(spec['task'], data_root)
            entries.append(
                ModelEntry(
                    key=key,
                    task=SEGMENTATION if spec['task'] == 'brain' else
                    DETECTION,
                    kind=STOCK if spec['kind'] == 'stock' else
                    LANGUAGE_GUIDED,
                    config=spec['config'],
                    checkpoint=checkpoint,
                    missing=missing,
                    twin=stock_key if key == lg_key else None,
                    seen=seen,
                    held_out=held_out,
                    examples=examples,
                    default_prompts=examples[0].prompts if examples else ''))
    return entries


def user_entry(config: str, checkpoint: Optional[str], task: str,
               key: Optional[str] = None,
               examples: Sequence[Example] = ()) -> ModelEntry:
    """A model given on the command line (config + checkpoint).

    Args:
        config (str): Config file.
        checkpoint (str, optional): Checkpoint file; a missing one is
            reported when the model is picked.
        task (str): :data:`DETECTION` or :data:`SEGMENTATION`.
        key (str, optional): Name in the list; default the config's stem.
        examples (Sequence[Example]): Example scenes.
    """
    missing = None
    if not checkpoint:
        missing = (f'{config}: no --checkpoint given; the page does not run '
                   'untrained (random) heads. Give the trained checkpoint.')
    elif not osp.isfile(checkpoint):
        missing = (f'Checkpoint {checkpoint!r} not found. Give the file '
                   'the training wrote (work_dirs/<run>/iter_<N>.pth).')
    return ModelEntry(
        key=key or osp.splitext(osp.basename(config))[0],
        task=task,
        kind=LANGUAGE_GUIDED,
        config=config,
        checkpoint=checkpoint,
        missing=missing,
        examples=list(examples),
        default_prompts=examples[0].prompts if examples else '')


def onnx_entry(folder: str, task: str, key: Optional[str] = None,
               examples: Sequence[Example] = ()) -> ModelEntry:
    """An ONNX export folder run by the numpy runtime.

    Args:
        folder (str): Folder written by ``tools/deployment/export_onnx.py``.
        task (str): :data:`DETECTION` or :data:`SEGMENTATION`.
        key (str, optional): Name in the list.
        examples (Sequence[Example]): Example scenes.
    """
    missing = None
    if not osp.isfile(osp.join(folder, 'meta.json')):
        missing = (f'{folder!r} holds no meta.json: give a folder written '
                   'by tools/deployment/export_onnx.py.')
    return ModelEntry(
        key=key or f'onnx:{osp.basename(osp.normpath(folder))}',
        task=task,
        kind=ONNX,
        checkpoint=folder,
        missing=missing,
        examples=list(examples),
        default_prompts=examples[0].prompts if examples else '')
