"""Per-prompt evaluation: the metric each prompt earns on its class.

A language-guided model is run over a test dataloader with exactly the
given prompts as its run-time vocabulary, and every prompt is scored by the
stock metric of the config (mmdet's ``CocoMetric``, mmseg's ``IoUMetric``)
on the one dataset class it is mapped to:

- detection: the boxes labelled with the prompt, against the ground truth
  of its class (the metric's classes are set to that one class);
- segmentation: the pixels labelled with the prompt, against the pixels of
  its class (a two-class problem: the class vs everything else; ignored
  pixels stay ignored); the IoU / Dice of the class is reported.

Three ways to score prompts (``mode``):

- ``'together'``: one vocabulary of all the prompts (what a user querying
  with several prompts gets);
- ``'each'``: every prompt alone (one vocabulary per prompt); a segmentor
  labels every pixel with one entry, so it scores each prompt against the
  dataset's background class (a vocabulary of two: the background's name
  and the prompt), see :func:`each_mode_background`;
- ``'replace'``: every prompt in place of its class's name among the
  dataset's class names (the other classes keep their names; how a
  paraphrase or an unrelated word fares among the trained names).

After every batch the model is checked to have scored exactly the prompts
asked (its vocabulary, the predicted labels, the number of score maps), so
a pipeline that silently puts other names into the samples fails loudly.
"""
import copy
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from torch import nn

from .prompt_mapping import PromptForClass

MODES = ('together', 'each', 'replace')


@dataclass(frozen=True)
class ScoringPass:
    """One vocabulary the model is run with.

    Attributes:
        vocabulary (tuple[str]): The entries given to ``set_vocabulary``.
        prompt_slots (dict[int, int]): Index of a prompt (in the list given
            to :func:`evaluate_prompts_on_loader`) -> index of its entry in
            ``vocabulary``.
    """
    vocabulary: tuple
    prompt_slots: Dict[int, int]


#: class names taken for the background of a segmentation dataset
BACKGROUND_NAMES = ('background', 'bg', '_background_', 'backgrounds')


@dataclass(frozen=True)
class Background:
    """The entry every prompt of a segmentor competes with in mode
    ``'each'``.

    Attributes:
        class_id (int): Dataset class of the background.
        name (str): Its name (the text the model scores it with; a head
            with a learned background replaces it by its embedding).
        slot (int): Its index in the two-entry vocabulary (0 or 1).
    """
    class_id: int
    name: str
    slot: int = 0


def each_mode_background(classes: Sequence[str],
                         background_index: int = 0,
                         learnable_background: bool = False,
                         binary: bool = False) -> Background:
    """The background a segmentor scores each prompt against in mode
    ``'each'``.

    A softmax decode head labels every pixel with one vocabulary entry, so
    a prompt alone has nothing to compete with; a binary head scores a
    (background, foreground) pair. Either way the prompt is scored in a
    vocabulary of two: the dataset's background class and the prompt,
    binary against background.

    Args:
        classes (Sequence[str]): The dataset's class names.
        background_index (int): The decode head's ``background_index``
            (class index of the background, default 0).
        learnable_background (bool): The head scores the background with a
            learned embedding.
        binary (bool): The head is binary (``out_channels=1``).

    Returns:
        Background: Its class id, name and slot in the vocabulary of two.

    Raises:
        ValueError: The dataset has no background class at
            ``background_index`` (a class named e.g. ``'background'``, or
            any class for a head with a learned background).
    """
    if not classes:
        raise ValueError('The dataset has no classes.')
    class_id = background_index % len(classes)
    name = classes[class_id]
    if not (learnable_background or binary or
            name.strip().lower() in BACKGROUND_NAMES):
        raise ValueError(
            f"mode='each' scores each prompt of a segmentor against the "
            f'background class (a softmax head labels every pixel, so one '
            f'prompt alone has nothing to compete with), but class '
            f'{class_id} of the dataset is {name!r}, not a background '
            f'({", ".join(repr(b) for b in BACKGROUND_NAMES)}). Score the '
            "prompts with mode='together' or 'replace' instead.")
    return Background(class_id, name, background_index % 2)


def scoring_passes(prompts: Sequence[PromptForClass],
                   classes: Sequence[str],
                   mode: str,
                   background: Optional[Background] = None
                   ) -> List[ScoringPass]:
    """The vocabularies a mode runs the model with.

    Args:
        prompts (Sequence[PromptForClass]): Prompts and their classes.
        classes (Sequence[str]): The dataset's class names.
        mode (str): ``'together'``, ``'each'`` or ``'replace'``.
        background (Background, optional): Segmentors: mode ``'each'``
            scores every prompt in a vocabulary of two, this background
            and the prompt (:func:`each_mode_background`).

    Returns:
        list[ScoringPass]: One pass (together) or one per prompt.

    Raises:
        ValueError: A bad mode; with ``background``, a prompt of the
            background class itself or one spelled as the background.
    """
    if mode not in MODES:
        raise ValueError(f'mode={mode!r}: choose one of {MODES}.')
    # a prompt scored against several classes is one vocabulary entry
    unique: Dict[str, int] = {}
    for p in prompts:
        unique.setdefault(p.prompt.lower(), len(unique))
    texts = {i: p.prompt for p in reversed(prompts)
             for i in [unique[p.prompt.lower()]]}
    if mode == 'together':
        return [ScoringPass(tuple(texts[i] for i in range(len(texts))),
                            {k: unique[p.prompt.lower()]
                             for k, p in enumerate(prompts)})]
    if mode == 'each' and background is not None:
        return _passes_against_background(prompts, texts, unique,
                                          background)
    if mode == 'each':
        return [ScoringPass((texts[i], ),
                            {k: 0 for k, p in enumerate(prompts)
                             if unique[p.prompt.lower()] == i})
                for i in range(len(texts))]
    passes = []
    for k, p in enumerate(prompts):
        clash = [c for i, c in enumerate(classes)
                 if i != p.class_id and c.lower() == p.prompt.lower()]
        if clash:
            raise ValueError(
                f"Prompt {p.prompt!r} for class {p.class_name!r} in mode "
                f"'replace' is the name of another class ({clash[0]!r}); "
                "score it with mode='together' or 'each' instead.")
        vocab = list(classes)
        vocab[p.class_id] = p.prompt
        passes.append(ScoringPass(tuple(vocab), {k: p.class_id}))
    return passes


def _passes_against_background(prompts: Sequence[PromptForClass],
                               texts: Dict[int, str], unique: Dict[str, int],
                               background: Background) -> List[ScoringPass]:
    """Mode ``'each'`` of a segmentor: (background, prompt) per prompt."""
    bad = [p.prompt for p in prompts
           if p.class_id == background.class_id
           or p.prompt.lower() == background.name.lower()]
    if bad:
        raise ValueError(
            f"mode='each' scores each prompt of a segmentor against the "
            f'background class {background.name!r}; the prompts {bad} are '
            'that background (or spelled as it) and have nothing to be '
            "scored against: leave them out, or score them with "
            "mode='together'.")
    slot = 1 - background.slot
    passes = []
    for i in range(len(texts)):
        vocab = [background.name, background.name]
        vocab[slot] = texts[i]
        passes.append(ScoringPass(
            tuple(vocab), {k: slot for k, p in enumerate(prompts)
                           if unique[p.prompt.lower()] == i}))
    return passes


def _entry_names(vocabulary) -> List[str]:
    return [e if isinstance(e, str) else e[0] for e in vocabulary]


def check_scored_vocabulary(model: nn.Module, vocabulary: Sequence[str],
                            samples: Sequence) -> None:
    """Check that the model scored exactly ``vocabulary``.

    Args:
        model (nn.Module): The language-guided model after ``test_step``.
        vocabulary (Sequence[str]): The entries it was given.
        samples (Sequence[DetDataSample | SegDataSample]): Its predictions.

    Raises:
        RuntimeError: The model's vocabulary differs from ``vocabulary``, a
            predicted label is outside it, or a segmentation sample has a
            score map count other than its length.
    """
    names = _entry_names(model.vocabulary or ())
    if [n.lower() for n in names] != [v.lower() for v in vocabulary]:
        raise RuntimeError(
            f'The model scored {names}, not the prompts asked '
            f'{list(vocabulary)}: something replaced its run-time '
            'vocabulary (a baked head, or a model that does not read '
            'set_vocabulary).')
    num = len(vocabulary)
    for sample in samples:
        if 'pred_instances' in sample:
            labels = sample.pred_instances.labels
            if len(labels) and int(labels.max()) >= num:
                raise RuntimeError(
                    f'Predicted label {int(labels.max())} is outside the '
                    f'{num} prompts asked {list(vocabulary)}.')
        if 'seg_logits' in sample:
            channels = sample.seg_logits.data.shape[0]
            if channels != num:
                raise RuntimeError(
                    f'The segmentor scored {channels} classes, not the '
                    f'{num} prompts asked {list(vocabulary)}.')


def prompt_boxes(pred: dict, slot: int,
                 score_thr: Optional[float] = None):
    """Which predicted boxes belong to a prompt.

    Args:
        pred (dict): ``pred_instances`` of a ``to_dict()`` sample.
        slot (int): Vocabulary index of the prompt.
        score_thr (float, optional): Also require a score of at least
            this (an operating point).

    Returns:
        Tensor: Bool ``[N]``.
    """
    keep = pred['labels'] == slot
    if score_thr is not None:
        keep = keep & (pred['scores'] >= score_thr)
    return keep


def restrict_detection_sample(sample: dict,
                              slot: int,
                              class_id: int,
                              score_thr: Optional[float] = None) -> dict:
    """A detection sample seen as a one-class problem.

    Args:
        sample (dict): ``DetDataSample.to_dict()``.
        slot (int): Vocabulary index of the prompt.
        class_id (int): Dataset class of the prompt.
        score_thr (float, optional): Keep only the prompt's boxes scoring
            at least this (an operating point; None keeps what the model's
            ``test_cfg.score_thr`` kept).

    Returns:
        dict: Shallow copy with the prompt's boxes only (label 0) and, when
        present, the ground-truth ``instances`` of the class only (label 0).
    """
    out = dict(sample)
    pred = dict(sample['pred_instances'])
    keep = prompt_boxes(pred, slot, score_thr)
    for key in ('bboxes', 'scores', 'labels', 'masks', 'mask_scores'):
        if key in pred:
            pred[key] = pred[key][keep]
    pred['labels'] = pred['labels'] * 0
    out['pred_instances'] = pred
    if 'instances' in sample:
        out['instances'] = [
            dict(inst, bbox_label=0) for inst in sample['instances']
            if inst.get('bbox_label') == class_id
        ]
    return out


def restrict_segmentation_sample(sample: dict, slot: int, class_id: int,
                                 ignore_index: int) -> dict:
    """A segmentation sample seen as class-vs-rest.

    Args:
        sample (dict): ``SegDataSample.to_dict()``.
        slot (int): Vocabulary index of the prompt.
        class_id (int): Dataset class of the prompt.
        ignore_index (int): Ground-truth value of ignored pixels.

    Returns:
        dict: Shallow copy whose ``pred_sem_seg`` is 1 where the prompt won
        and whose ``gt_sem_seg`` is 1 on the class, ``ignore_index`` where
        ignored, 0 elsewhere.
    """
    out = dict(sample)
    pred = sample['pred_sem_seg']['data']
    gt = sample['gt_sem_seg']['data']
    binary_gt = (gt == class_id).to(gt.dtype)
    binary_gt[gt == ignore_index] = ignore_index
    out['pred_sem_seg'] = dict(data=(pred == slot).to(pred.dtype))
    out['gt_sem_seg'] = dict(data=binary_gt)
    return out


class PromptScorer:
    """The stock metrics of one prompt, on its class only.

    Args:
        prompt (PromptForClass): The prompt and its class.
        evaluator_cfg (dict | list): The config's ``test_evaluator``.
        dataset_meta (dict): The test dataset's ``metainfo``.
    """

    def __init__(self,
                 prompt: PromptForClass,
                 evaluator_cfg,
                 dataset_meta: dict,
                 score_thr: Optional[float] = None) -> None:
        from mmengine.evaluator import Evaluator
        self.prompt = prompt
        self.score_thr = score_thr
        self.evaluator = Evaluator(copy.deepcopy(evaluator_cfg))
        classes = ('(rest)', prompt.class_name)  # class-vs-rest (IoU)
        for metric in self.evaluator.metrics:
            meta = dict(dataset_meta)
            meta.pop('palette', None)
            meta['classes'] = (classes if self._is_iou(metric) else
                               (prompt.class_name, ))
            metric.dataset_meta = meta
        self.num_samples = 0
        self.num_predicted = 0
        self.top_scores: List[float] = []
        self.img_ids: List = []

    @staticmethod
    def _is_iou(metric) -> bool:
        return hasattr(metric, 'total_area_to_metrics')

    def process(self, samples: Sequence[dict], slot: int) -> None:
        """Add a batch of predictions (``to_dict()`` samples)."""
        pid = self.prompt.class_id
        for metric in self.evaluator.metrics:
            if self._is_iou(metric):
                batch = [restrict_segmentation_sample(
                    s, slot, pid, metric.ignore_index) for s in samples]
            else:
                batch = [restrict_detection_sample(
                    s, slot, pid, self.score_thr) for s in samples]
            metric.process({}, batch)
        for s in samples:
            if 'pred_instances' in s:
                pred = s['pred_instances']
                self.num_predicted += int(
                    prompt_boxes(pred, slot, self.score_thr).sum())
                scores = pred['scores'][prompt_boxes(pred, slot)]
                self.top_scores.append(
                    float(scores.max()) if len(scores) else 0.0)
                self.img_ids.append(s.get('img_id'))
            elif 'pred_sem_seg' in s:
                self.num_predicted += int(
                    (s['pred_sem_seg']['data'] == slot).sum())
        self.num_samples += len(samples)

    def compute(self) -> Dict[str, float]:
        """Metrics of the prompt (percent).

        Returns:
            dict[str, float]: Detection: ``AP``, ``AP50``, ``AP75`` (0 when
            the prompt has no box: ``CocoMetric`` logs nothing then) and the
            stock metric's own keys; segmentation: ``IoU``, ``Dice`` of the
            class, ``Acc``. Plus ``predicted`` (boxes / pixels) and, for
            detection, ``top_score``: the prompt's highest box score per
            image, averaged over the images (0 for an image without a box
            of the prompt). AP ranks boxes and ignores how high they
            score; ``top_score`` shows it.
        """
        out: Dict[str, float] = {}
        for metric in self.evaluator.metrics:
            if self._is_iou(metric):
                out.update(self._iou_metrics(metric))
                continue
            if getattr(metric, 'img_ids', 'absent') is None:
                # only the images run (CocoMetric's default is every image
                # of the annotation file)
                metric.img_ids = [i for i in self.img_ids if i is not None]
            values = metric.evaluate(self.num_samples)
            out.update({k: float(v) for k, v in values.items()})
            ap = values.get('coco/bbox_mAP')
            out['AP'] = 100 * float(ap) if ap is not None else 0.0
            out['AP50'] = 100 * float(values.get('coco/bbox_mAP_50', 0.0))
            out['AP75'] = 100 * float(values.get('coco/bbox_mAP_75', 0.0))
        out['predicted'] = self.num_predicted
        if self.top_scores:
            out['top_score'] = round(
                sum(self.top_scores) / len(self.top_scores), 4)
        return out

    @staticmethod
    def _iou_metrics(metric) -> Dict[str, float]:
        areas = tuple(zip(*metric.results))
        metric.results.clear()
        totals = [sum(a) for a in areas]  # tensors, as IoUMetric sums
        values = metric.total_area_to_metrics(
            *totals, metrics=['mIoU', 'mDice'], nan_to_num=0,
            beta=getattr(metric, 'beta', 1))

        def pct(key):
            return round(100 * float(values[key][1]), 2)

        return dict(IoU=pct('IoU'), Dice=pct('Dice'), Acc=pct('Acc'))


def evaluate_prompts_on_loader(
        model: nn.Module,
        dataloader: Iterable,
        evaluator_cfg,
        dataset_meta: dict,
        prompts: Sequence[PromptForClass],
        mode: str = 'together',
        max_batches: Optional[int] = None,
        progress: Optional[Callable[[int], None]] = None,
        score_thr: Optional[float] = None,
        background: Optional[Background] = None) -> List[dict]:
    """Run the model with exactly ``prompts`` and score each prompt.

    Args:
        model (nn.Module): A language-guided detector or segmentor (eval
            mode).
        dataloader (Iterable): The test dataloader (batches of
            ``inputs`` / ``data_samples``).
        evaluator_cfg (dict | list): The stock metric config(s), e.g. the
            config's ``test_evaluator``.
        dataset_meta (dict): The test dataset's ``metainfo``
            (``classes``).
        prompts (Sequence[PromptForClass]): Prompts and their classes
            (:func:`parse_prompts_for_classes`).
        mode (str): ``'together'``, ``'each'`` or ``'replace'``.
        max_batches (int, optional): Stop after this many batches.
        progress (callable, optional): Called with the batch index.
        score_thr (float, optional): Detection: score each prompt only on
            its boxes scoring at least this (an operating point). AP ranks
            boxes, so without a threshold a prompt whose boxes all score
            low still gets the AP of their order.
        background (Background, optional): Segmentors in mode ``'each'``:
            the background each prompt is scored against
            (:func:`each_mode_background`).

    Returns:
        list[dict]: One row per prompt: ``prompt``, ``class``, ``mode``,
        ``vocabulary`` (what the model scored), ``score_thr`` and the
        metrics of :meth:`PromptScorer.compute`.
    """
    if getattr(model, 'is_baked', False) or not hasattr(
            model, 'temporary_vocabulary'):
        raise TypeError(
            f'{type(model).__name__} cannot take prompts (a closed-set or '
            'baked model): evaluate it with tools/test.py without '
            '--prompts.')
    classes = list(dataset_meta['classes'])
    passes = scoring_passes(prompts, classes, mode, background)
    if score_thr is not None and not 0 <= float(score_thr) <= 1:
        raise ValueError(
            f'score_thr={score_thr!r} is not a score: give a value in '
            '[0, 1] (e.g. 0.3), or None to keep the model\'s own '
            'test_cfg.score_thr.')
    scorers = [PromptScorer(p, evaluator_cfg, dataset_meta, score_thr)
               for p in prompts]
    for i, batch in enumerate(dataloader):
        if max_batches is not None and i >= max_batches:
            break
        for scoring in passes:
            with model.temporary_vocabulary(list(scoring.vocabulary)):
                outputs = model.test_step(batch)
                check_scored_vocabulary(model, scoring.vocabulary, outputs)
            samples = [s.to_dict() for s in outputs]
            for k, slot in scoring.prompt_slots.items():
                scorers[k].process(samples, slot)
        if progress is not None:
            progress(i)
    rows = []
    for k, (p, scorer) in enumerate(zip(prompts, scorers)):
        scoring = next(s for s in passes if k in s.prompt_slots)
        row = dict(prompt=p.prompt, **{'class': p.class_name}, mode=mode,
                   vocabulary=list(scoring.vocabulary), score_thr=score_thr)
        row.update(scorer.compute())
        rows.append(row)
    return rows


def prompt_table(rows: Sequence[dict]) -> str:
    """Markdown table of :func:`evaluate_prompts_on_loader` rows.

    Args:
        rows (Sequence[dict]): Per-prompt rows.

    Returns:
        str: ``| prompt | class | AP | AP50 | ...`` (detection, with the
        mean top box score) or ``IoU | Dice`` (segmentation) with the
        boxes / pixels predicted.
    """
    if not rows:
        return ''
    keys = [k for k in ('AP', 'AP50', 'AP75', 'IoU', 'Dice') if k in rows[0]]
    extra = ['top_score'] if 'top_score' in rows[0] else []
    lines = ['| prompt | class | ' + ' | '.join(keys + extra) +
             ' | predicted |',
             '| --- | --- | ' + ' | '.join('---:' for _ in keys + extra) +
             ' | ---: |']
    for r in rows:
        lines.append(f'| {r["prompt"]} | {r["class"]} | ' + ' | '.join(
            [f'{r[k]:.1f}' for k in keys] +
            [f'{r.get(k, 0.0):.3f}' for k in extra]) +
            f' | {r["predicted"]} |')
    return '\n'.join(lines)
