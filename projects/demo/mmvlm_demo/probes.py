"""The words of the demo's open-vocabulary probes.

The seen / held-out / unrelated names themselves are fixed before training
in :mod:`.vocabulary_splits`; this module adds what only the probes use:

- :data:`SYNONYMS`: paraphrases of the seen names that no model trained
  on (two per name). Paraphrase set ``k`` replaces every seen name that
  has one by its ``k``-th paraphrase; the side of a brain region ("left" /
  "right") is kept. None of them is a training negative (their words are
  in ``NEGATIVE_EXCLUDED_WORDS``).
- :data:`SPECIFICITY_CLASS`: the seen class the specificity probe asks for
  with unrelated words and with a near paraphrase.
- :data:`OPERATING_SCORE_GRID` / :data:`OPERATING_KEEP`: detection AP ranks
  boxes and ignores how high they score, so a prompt whose boxes all score
  0.06 gets the AP of their order. Specificity is also measured at an
  operating point, the score threshold a user would deploy with, chosen on
  the right name alone.
"""
from typing import Dict, List, Optional, Tuple

from .vocabulary_splits import HELD_OUT, SEEN, UNRELATED

#: Paraphrases of seen names (without the side of a brain region).
SYNONYMS: Dict[str, Dict[str, Tuple[str, str]]] = {
    'trees': {
        'tree': ('tree crown', 'canopy'),
    },
    'brain': {
        'precentral gyrus': ('primary motor cortex', 'motor strip'),
        'postcentral gyrus': ('primary somatosensory cortex',
                              'sensory strip'),
        'middle frontal gyrus': ('middle frontal convolution',
                                 'dorsolateral frontal gyrus'),
        'middle temporal gyrus': ('middle temporal convolution',
                                  'second temporal gyrus'),
        'precuneus': ('medial parietal cortex', 'precuneal cortex'),
        'cerebellum crus I': ('first crus of the cerebellum',
                              'cerebellar crus 1'),
        'hippocampus': ('hippocampal formation', "Ammon's horn"),
    },
}

#: Number of paraphrase sets.
NUM_PARAPHRASE_SETS = 2

#: Detection: score thresholds tried for the operating point, ascending.
OPERATING_SCORE_GRID: Tuple[float, ...] = (0.1, 0.15, 0.2, 0.25, 0.3)

#: Detection: the operating point is the highest threshold of
#: :data:`OPERATING_SCORE_GRID` at which the right name keeps this fraction
#: of its AP50 (chosen from the right name only, never from the probes).
OPERATING_KEEP = 0.95

#: Seen class asked for with unrelated words and a near paraphrase.
SPECIFICITY_CLASS: Dict[str, str] = {
    'trees': 'tree',
    'brain': 'left middle frontal gyrus',
}

SIDES = ('left ', 'right ')


def paraphrase(task: str, name: str, k: int) -> Optional[str]:
    """The ``k``-th paraphrase of a class name, None when it has none.

    Args:
        task (str): ``'trees'`` or ``'brain'``.
        name (str): A class name, e.g. ``'left precentral gyrus'``.
        k (int): Which paraphrase (``0 <= k < NUM_PARAPHRASE_SETS``).

    Returns:
        str | None: E.g. ``'left primary motor cortex'``.
    """
    side = next((s for s in SIDES if name.startswith(s)), '')
    synonyms = SYNONYMS[task].get(name[len(side):])
    return None if synonyms is None else side + synonyms[k]


def seen_regions(task: str) -> List[str]:
    """Seen names that are objects or regions (not ``background``)."""
    return [n for n in SEEN[task] if n != 'background']


def paraphrase_prompts(task: str, k: int) -> List[str]:
    """Prompts of paraphrase set ``k``: ``'<paraphrase>=<seen name>'`` for
    every seen name with a paraphrase, ``background`` as it is.

    Args:
        task (str): ``'trees'`` or ``'brain'``.
        k (int): The set.

    Returns:
        list[str]: ``prompt=class`` pieces for ``evaluate_prompts``.
    """
    out = []
    for name in SEEN[task]:
        alt = paraphrase(task, name, k)
        if alt is not None:
            out.append(f'{alt}={name}')
        elif name == 'background':
            out.append(name)
    return out


def chance_prompts(task: str) -> List[str]:
    """Each held-out class asked for with the next held-out name.

    The chance baseline: the same model, the same images, but words that
    carry no information about the class (another held-out name).

    Args:
        task (str): ``'trees'`` or ``'brain'``.

    Returns:
        list[str]: ``'<other held-out name>=<held-out name>'`` pieces.
    """
    held = list(HELD_OUT[task])
    return [f'{held[(i + 1) % len(held)]}={name}'
            for i, name in enumerate(held) if len(held) > 1]


def specificity_prompts(task: str) -> List[str]:
    """The specificity class asked for with unrelated words and with its
    first paraphrase.

    Args:
        task (str): ``'trees'`` or ``'brain'``.

    Returns:
        list[str]: ``prompt=class`` pieces (the right name first).
    """
    cls = SPECIFICITY_CLASS[task]
    near = paraphrase(task, cls, 0)
    return [cls] + [f'{u}={cls}' for u in UNRELATED[task]] + (
        [f'{near}={cls}'] if near else [])
