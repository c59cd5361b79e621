"""Seen and held-out class names of the demo, fixed before any training.

Plain module-level dicts keyed by task (``'trees'``, ``'brain'``); the data
preparation, the demo configs (checked by
``tests/projects/demo/test_demo_configs.py``), the open-vocabulary step and
the report all read these names.

- :data:`CLASSES`: the names of the annotated categories, in label order.
  ``brain``: the value ``i`` of a label map in ``brain/ann_dir_all/`` is
  ``CLASSES['brain'][i]`` (every region labelled, held-out ones included).
  ``trees``: the one COCO category of ``trees/annotations/*.json``.
- :data:`SEEN`: the names the models train on (the vocabulary of every demo
  config, stock and language-guided). ``brain/ann_dir_seen/`` holds label
  maps whose value ``i`` is ``SEEN['brain'][i]``, with the pixels of
  held-out regions set to :data:`IGNORE_INDEX` (ignored in training and in
  ``tools/test.py``'s mIoU, not background: a held-out region is not
  background, and training it as background would teach the model to say
  "not this" to exactly the names we later ask for).
- :data:`HELD_OUT`: names never trained on, asked for only at test time.
  ``brain``: three right-hemisphere regions whose left twins are seen (a
  new combination of seen words) and the two hippocampi (a word never
  seen). ``trees``: the dead / living distinction; the boxes are the test
  crowns whose COCO annotation has ``source_label`` ``'Dead'`` / ``'Alive'``
  (:data:`HELD_OUT_SOURCE_LABELS`; only the SOAP_061 test tile has them).
  No training image holds such a crown, so nothing had to be ignored.
- :data:`UNRELATED`: prompts that name nothing in the images, for the
  prompt-specificity check. They and every word in
  :data:`NEGATIVE_EXCLUDED_WORDS` are kept out of the training negatives,
  so the check measures generalisation, not memorised negatives.
"""
from typing import Dict, List, Tuple

Names = Tuple[str, ...]

#: Label-map value of pixels that are not trained on.
IGNORE_INDEX = 255

_BRAIN_REGIONS: Names = (
    'left precentral gyrus', 'right precentral gyrus',
    'left postcentral gyrus', 'right postcentral gyrus',
    'left middle frontal gyrus', 'right middle frontal gyrus',
    'left middle temporal gyrus', 'right middle temporal gyrus',
    'left precuneus', 'right precuneus', 'left cerebellum crus I',
    'right cerebellum crus I', 'left hippocampus', 'right hippocampus')

#: Annotated names per task, in label order.
CLASSES: Dict[str, Names] = {
    'trees': ('tree', ),
    'brain': ('background', ) + _BRAIN_REGIONS,
}

#: Names trained on (label order of the training label maps / COCO ids).
SEEN: Dict[str, Names] = {
    'trees': ('tree', ),
    'brain': ('background', 'left precentral gyrus', 'right precentral gyrus',
              'left postcentral gyrus', 'right postcentral gyrus',
              'left middle frontal gyrus', 'right middle frontal gyrus',
              'left middle temporal gyrus', 'left precuneus',
              'left cerebellum crus I'),
}

#: Names never trained on, asked for at test time only.
HELD_OUT: Dict[str, Names] = {
    'trees': ('dead tree', 'living tree'),
    'brain': ('right middle temporal gyrus', 'right precuneus',
              'right cerebellum crus I', 'left hippocampus',
              'right hippocampus'),
}

#: trees: held-out name -> ``source_label`` of its test annotations.
HELD_OUT_SOURCE_LABELS: Dict[str, Dict[str, str]] = {
    'trees': {
        'dead tree': 'Dead',
        'living tree': 'Alive'
    },
}

#: Prompts naming nothing in the images (prompt specificity); never used
#: as training negatives.
UNRELATED: Dict[str, Names] = {
    'trees': ('car', 'bacterium', 'person', 'airplane'),
    'brain': ('car', 'bacterium', 'tree', 'kidney'),
}

#: Negative names containing one of these words (case-insensitive) are
#: left out of the training negatives: they could name what is in the
#: images (paraphrases of seen or held-out names), or are probes above.
NEGATIVE_EXCLUDED_WORDS: Dict[str, Names] = {
    'trees': ('tree', 'crown', 'canopy', 'forest', 'wood', 'plant', 'bush',
              'shrub', 'palm', 'pine', 'oak', 'leaf', 'leaves', 'foliage',
              'vegetation', 'grass', 'flower', 'branch', 'twig', 'log',
              'stump', 'dead', 'living', 'alive', 'car', 'bacteri',
              'person', 'airplane', 'aeroplane'),
    'brain': ('brain', 'gyrus', 'gyri', 'cortex', 'lobe', 'lobul',
              'cerebel', 'cerebr', 'hippocamp', 'precuneus', 'temporal',
              'frontal', 'central', 'parietal', 'occipital', 'head', 'skull',
              'crus', 'left', 'right', 'background', 'car', 'bacteri',
              'tree', 'kidney', 'motor', 'strip', 'sensor', 'convolution',
              'horn', 'formation', 'medial', 'dorsolateral', 'precuneal',
              'ammon'),
}

TASKS: Names = ('trees', 'brain')


def _check() -> None:
    """The splits are consistent (run at import: a typo fails loudly)."""
    for task in TASKS:
        seen, held = set(SEEN[task]), set(HELD_OUT[task])
        if seen & held:
            raise ValueError(f'{task}: names both seen and held out: '
                             f'{sorted(seen & held)}.')
        if not seen <= set(CLASSES[task]):
            raise ValueError(f'{task}: seen names not annotated: '
                             f'{sorted(seen - set(CLASSES[task]))}.')
    if set(CLASSES['brain']) != set(SEEN['brain']) | set(HELD_OUT['brain']):
        raise ValueError('brain: every annotated region must be seen or '
                         'held out.')


_check()


#: Where the training negatives come from (dataset types whose class names
#: RandomSampleNegativeTexts reads offline: LVIS v1 + COCO + ADE20K).
NEGATIVE_POOL: Names = ('mmdet.LVISV1Dataset', 'mmdet.CocoDataset',
                        'mmseg.ADE20KDataset')


def pool_exclude(task: str) -> Names:
    """Names of :data:`NEGATIVE_POOL` never used as negatives of a task.

    The cleaned pool names (``'aerosol_can'`` -> ``'aerosol can'``) that
    contain a word of :data:`NEGATIVE_EXCLUDED_WORDS` (paraphrases of the
    seen / held-out names, probe prompts), plus the held-out names and the
    :data:`UNRELATED` probes themselves. (RandomSampleNegativeTexts also
    skips every pool name sharing a word with the seen names.)

    Args:
        task (str): ``'trees'`` or ``'brain'``.

    Returns:
        tuple[str, ...]: Sorted names.
    """
    if task not in TASKS:
        raise ValueError(f'task={task!r}; use one of {TASKS}.')
    from mmengine.registry import DATASETS

    from mmvlm.structures.vocabulary import clean_class_name
    raw = []
    for dataset_type in NEGATIVE_POOL:
        scope, name = dataset_type.split('.')
        dataset_cls = DATASETS.get(dataset_type)
        if dataset_cls is None:
            raise KeyError(f'{dataset_type} is not registered; import '
                           f'{scope} first.')
        raw += list(dataset_cls.METAINFO['classes'])
    excluded = NEGATIVE_EXCLUDED_WORDS[task]
    names = {clean_class_name(n) for n in raw}
    names = {n for n in names if any(w in n.lower() for w in excluded)}
    names |= set(HELD_OUT[task]) | set(UNRELATED[task])
    return tuple(sorted(names, key=str.lower))


#: Config files holding each task's names, read by the demo configs.
TEXT_CONFIGS: Dict[str, str] = {
    task: f'projects/demo/configs/_base_/texts/{task}.py'
    for task in TASKS
}


def _tuple_source(name: str, values) -> List[str]:
    return [f'{name} = ('] + [f'    {v!r},' for v in values] + [')']


def text_config_source(task: str) -> str:
    """The text of :data:`TEXT_CONFIGS` ``[task]`` (see ``__main__``).

    Args:
        task (str): ``'trees'`` or ``'brain'``.

    Returns:
        str: Python config source defining ``classes`` (the seen names),
        ``negative_pool`` and ``pool_exclude``.
    """
    lines = [
        f'# The names of the demo task {task!r}. GENERATED by',
        '#   python -m projects.demo.mmvlm_demo.vocabulary_splits',
        '# from projects/demo/mmvlm_demo/vocabulary_splits.py (edit there).',
        '# classes: the seen names, in label order (the held-out names are',
        '# never trained on). negative_pool: where RandomSampleNegativeTexts',
        '# draws training negatives from (LVIS + COCO + ADE20K names);',
        '# pool_exclude: pool names that could name what is in the images',
        '# (paraphrases of seen or held-out names) or are probe prompts.',
    ]
    lines += _tuple_source('classes', SEEN[task])
    lines += _tuple_source('negative_pool', NEGATIVE_POOL)
    lines += _tuple_source('pool_exclude', pool_exclude(task))
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    import os

    import mmdet.datasets  # noqa: F401 (registers the pool datasets)
    import mmseg.datasets  # noqa: F401
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))))
    for task, rel in TEXT_CONFIGS.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text_config_source(task))
        print(f'wrote {rel}')
