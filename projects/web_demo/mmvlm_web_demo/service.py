"""Run the page's models: load them on first use, score one image against
the typed prompts, draw the result.

Only the public API of mmvlm is used (``mmvlm.apis``, ``mmvlm.deployment``,
``mmvlm.visualization``), and mmdet's ``inference_detector`` for the stock
twins. One request runs at a time (a lock; the page's queue orders them).
"""
import html
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import Compose
from mmdet.apis import inference_detector
from mmengine.registry import DefaultScope

from mmvlm.apis import (detect, draw_detections, draw_segmentation,
                        inference_pipeline, segment)
from mmvlm.apis.prompt_maps import prompt_similarity_maps
from mmvlm.deployment import load_model
from mmvlm.deployment import runtime as onnx_runtime
from mmvlm.structures import Vocabulary
from mmvlm.visualization import (draw_prompt_detections,
                                 draw_prompt_heatmap,
                                 draw_prompt_segmentation)
from .catalog import (DETECTION, LANGUAGE_GUIDED, ONNX, STOCK, ModelEntry)
from .inputs import InputError, parse_prompts, read_image

#: Heat-maps drawn per request (the first prompts).
MAX_HEATMAPS = 6
#: Models kept loaded (least recently used ones are dropped).
MAX_LOADED = 3


@dataclass
class Result:
    """What one request shows.

    Args:
        image (np.ndarray, optional): ``[H, W, 3]`` RGB labelled picture.
        headers (list[str]): Column names of ``rows``.
        rows (list[list]): Detections, or pixel share per prompt.
        heatmaps (list[tuple[np.ndarray, str]]): RGB heat-map and caption
            per prompt.
        message (str): Markdown status line (errors included).
        ok (bool): False when the request was refused.
        seconds (float): Wall time of the request.
    """
    image: Optional[np.ndarray] = None
    headers: List[str] = field(default_factory=list)
    rows: List[list] = field(default_factory=list)
    heatmaps: List[Tuple[np.ndarray, str]] = field(default_factory=list)
    message: str = ''
    ok: bool = True
    seconds: float = 0.0


DET_HEADERS = ['prompt', 'score', 'x1', 'y1', 'x2', 'y2', 'in training?']
SEG_HEADERS = ['prompt', 'pixels', 'share %', 'in training?']


class DemoService:
    """Loads and runs the page's models.

    Args:
        entries (Sequence[ModelEntry]): The models offered.
        device (str): Torch device.
    """

    def __init__(self, entries: Sequence[ModelEntry], device: str = 'cpu'):
        self.entries: Dict[str, ModelEntry] = {}
        for entry in entries:
            if entry.key in self.entries:
                raise ValueError(f'Two models are named {entry.key!r}; give '
                                 'each a distinct name.')
            self.entries[entry.key] = entry
        self.device = device
        self._loaded: 'OrderedDict[str, object]' = OrderedDict()
        self._lock = threading.Lock()
        self.requests = 0

    def keys(self, task: str) -> List[str]:
        """Keys of the models of one task that take prompts (language-
        guided and ONNX; stock twins are reached through their twin)."""
        return [
            k for k, e in self.entries.items()
            if e.task == task and e.kind != STOCK
        ]

    def entry(self, key: Optional[str]) -> ModelEntry:
        """The entry named ``key``.

        Raises:
            InputError: No such model.
        """
        if not key or key not in self.entries:
            known = ', '.join(self.entries) or 'none'
            raise InputError(f'No model named {key!r} (models: {known}).')
        return self.entries[key]

    def model(self, entry: ModelEntry):
        """The loaded model of an entry (loaded on first use).

        Raises:
            InputError: The checkpoint is missing or does not load.
        """
        if entry.missing:
            raise InputError(entry.missing)
        if entry.key in self._loaded:
            self._loaded.move_to_end(entry.key)
            return self._loaded[entry.key]
        try:
            if entry.kind == ONNX:
                model = onnx_runtime.load_model(entry.checkpoint)
            else:
                model, _ = load_model(entry.config, entry.checkpoint)
                model = model.to(self.device)
        except FileNotFoundError as e:
            raise InputError(f'{entry.key}: {e}') from e
        except Exception as e:  # a wrong or damaged file: say so, go on
            raise InputError(
                f'{entry.key} could not be loaded from {entry.checkpoint!r}'
                f' ({type(e).__name__}: {e}).') from e
        self._loaded[entry.key] = model
        while len(self._loaded) > MAX_LOADED:
            self._loaded.popitem(last=False)
        return model

    # ------------------------------------------------------------ requests
    def run(self,
            key: str,
            image_path: Optional[str],
            prompts_text: Optional[str],
            score_thr: float = 0.3,
            top_k: int = 30,
            heatmaps: bool = True,
            stock: bool = False,
            prompts_file: Optional[str] = None) -> Result:
        """Score one image against the prompts with one model.

        Never raises: a refused input or a failed model is a
        :class:`Result` with ``ok=False`` and the message.

        Args:
            key (str): Model key (a language-guided or ONNX entry).
            image_path (str, optional): The image file.
            prompts_text (str, optional): The prompt box.
            score_thr (float): Boxes below it are neither drawn nor listed.
            top_k (int): At most this many boxes.
            heatmaps (bool): Also draw a heat-map per prompt.
            stock (bool): Run the entry's stock twin instead.
            prompts_file (str, optional): A prompts file (.yaml / .json),
                used instead of the box.

        Returns:
            Result: What the page shows.
        """
        start = time.perf_counter()
        with self._lock:
            self.requests += 1
            number = self.requests
            try:
                result = self._run(key, image_path, prompts_text, score_thr,
                                   int(top_k), heatmaps, stock, prompts_file)
            except (InputError, ValueError) as e:  # mmvlm's input checks
                result = Result(message=f'**Not run:** {e}', ok=False)
            except Exception as e:  # the server goes on; the user is told
                result = Result(
                    message=f'**Failed:** {type(e).__name__}: {e}',
                    ok=False)
        result.seconds = time.perf_counter() - start
        # user text (prompts, file names) must not become HTML
        result.message = html.escape(result.message, quote=False)
        result.message += (f' _(request {number}, {result.seconds:.2f} s)_')
        return result

    def _run(self, key, image_path, prompts_text, score_thr, top_k,
             heatmaps, stock, prompts_file) -> Result:
        entry = self.entry(key)
        if stock:
            if not entry.twin:
                raise InputError(f'{entry.key} has no stock twin.')
            entry = self.entry(entry.twin)
        if entry.missing:  # before asking the user for anything else
            raise InputError(entry.missing)
        if prompts_file:
            prompts = prompts_file
        else:
            prompts = parse_prompts(prompts_text)
        bgr, note = read_image(image_path)
        model = self.model(entry)
        if entry.kind == ONNX:
            result = self._run_onnx(entry, model, bgr, prompts, score_thr,
                                    top_k)
        elif entry.kind == STOCK:
            result = self._run_stock(entry, model, bgr, prompts, score_thr,
                                     top_k)
        elif entry.task == DETECTION:
            result = self._run_detection(entry, model, bgr, prompts,
                                         score_thr, top_k)
        else:
            result = self._run_segmentation(entry, model, bgr, prompts)
        if heatmaps and entry.kind == LANGUAGE_GUIDED:
            result.heatmaps = self._heatmaps(model, bgr, prompts)
        if note:
            result.message += f' {note}'
        return result

    def _run_detection(self, entry, model, bgr, prompts, score_thr,
                       top_k) -> Result:
        result, names = detect(model, bgr, prompts)
        picture = draw_detections(bgr, result, names, None, score_thr,
                                  max_boxes=top_k)
        pred = result.pred_instances
        return self._detection_result(entry, picture, pred.bboxes.numpy(),
                                      pred.scores.numpy(),
                                      pred.labels.numpy(), names, score_thr,
                                      top_k, entry.key)

    def _detection_result(self, entry, picture, bboxes, scores, labels,
                          names, score_thr, top_k, who) -> Result:
        keep = np.flatnonzero(scores >= score_thr)
        keep = keep[np.argsort(-scores[keep], kind='stable')][:top_k]
        rows = [[
            names[int(labels[i])],
            round(float(scores[i]), 3), *[round(float(v), 1)
                                          for v in bboxes[i]],
            entry.name_status(names[int(labels[i])])
        ] for i in keep]
        if rows:
            found = sorted({r[0] for r in rows})
            message = (f'{who}: {len(rows)} box(es) at or above score '
                       f'{score_thr:.2f}: ' +
                       ', '.join(f'"{n}"' for n in found) + '.')
        else:
            best = float(scores.max()) if len(scores) else 0.0
            message = (f'{who}: nothing at or above score {score_thr:.2f} '
                       f'(best score {best:.2f}).')
        return Result(image=picture, headers=DET_HEADERS, rows=rows,
                      message=message)

    def _run_segmentation(self, entry, model, bgr, prompts) -> Result:
        result, names = segment(model, bgr, prompts)
        picture = draw_segmentation(bgr, result, names)
        label_map = result.pred_sem_seg.data[0].cpu().numpy()
        return self._segmentation_result(entry, picture, label_map, names,
                                         entry.key)

    def _segmentation_result(self, entry, picture, label_map, names, who,
                             shown=None) -> Result:
        counts = np.bincount(label_map.ravel().astype(np.int64),
                             minlength=len(names))
        total = max(1, int(label_map.size))
        rows = [[
            name,
            int(counts[k]),
            round(100.0 * float(counts[k]) / total, 2),
            entry.name_status(name)
        ] for k, name in enumerate(names) if shown is None or name in shown]
        present = [r[0] for r in rows if r[1]]
        message = (f'{who}: {len(present)} of {len(rows)} prompt(s) cover '
                   'pixels: ' + ', '.join(f'"{n}"' for n in present) + '.')
        return Result(image=picture, headers=SEG_HEADERS, rows=rows,
                      message=message)

    def _run_stock(self, entry, model, bgr, prompts, score_thr,
                   top_k) -> Result:
        """The closed-set twin: its fixed classes only; typed prompts that
        are not among them are named in the message."""
        classes = list((getattr(model, 'dataset_meta', None)
                        or {}).get('classes') or [])
        if not classes:
            raise InputError(f'{entry.key} carries no class names.')
        typed = self._prompt_names(prompts)
        lower = {c.lower(): k for k, c in enumerate(classes)}
        wanted = [lower[p.lower()] for p in typed if p.lower() in lower]
        unknown = [p for p in typed if p.lower() not in lower]
        if entry.task == DETECTION:
            scope = model.cfg.get('default_scope', 'mmdet')
            with DefaultScope.overwrite_default_scope(scope):
                pred = inference_detector(model, bgr).pred_instances
            mask = np.isin(pred.labels.numpy(), wanted)
            bboxes = pred.bboxes.numpy()[mask]
            scores = pred.scores.numpy()[mask]
            labels = pred.labels.numpy()[mask]
            picture = draw_prompt_detections(
                np.ascontiguousarray(bgr[..., ::-1]), bboxes, scores, labels,
                classes, score_thr, max_boxes=top_k)
            result = self._detection_result(entry, picture, bboxes, scores,
                                            labels, classes, score_thr,
                                            top_k, f'{entry.key} (stock)')
        else:
            label_map = self._stock_segment(model, bgr)
            masks = np.stack([label_map == k for k in wanted]) if wanted \
                else np.zeros((0, ) + label_map.shape, bool)
            picture = draw_prompt_segmentation(
                np.ascontiguousarray(bgr[..., ::-1]), masks,
                [classes[k] for k in wanted])
            result = self._segmentation_result(
                entry, picture, label_map, classes, f'{entry.key} (stock)',
                shown={classes[k] for k in wanted})
        if unknown:
            result.message += (
                f' The stock twin knows only its {len(classes)} training '
                'classes; it cannot look for ' +
                ', '.join(f'"{u}"' for u in unknown[:10]) +
                (' ...' if len(unknown) > 10 else '') +
                ' (the language-guided model can).')
        return result

    @staticmethod
    def _stock_segment(model, bgr) -> np.ndarray:
        scope = model.cfg.get('default_scope', 'mmseg')
        with DefaultScope.overwrite_default_scope(scope):
            pipeline = Compose(inference_pipeline(model.cfg, bgr))
            sample = pipeline(dict(img=bgr))
        data = dict(inputs=[sample['inputs']],
                    data_samples=[sample['data_samples']])
        with torch.no_grad():
            pred = model.test_step(data)[0]
        return pred.pred_sem_seg.data[0].cpu().numpy()

    def _run_onnx(self, entry, model, bgr, prompts, score_thr,
                  top_k) -> Result:
        names = self._prompt_names(prompts)
        text = None
        if model.meta.get('mode') == 'text':
            text = onnx_runtime.TextEncoder(entry.checkpoint)(names)
        else:
            names = list(model.classes or [])
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        out = model(rgb, text)
        if isinstance(out, dict):
            picture = draw_prompt_detections(rgb, out['bboxes'],
                                             out['scores'], out['labels'],
                                             names, score_thr,
                                             max_boxes=top_k)
            return self._detection_result(entry, picture, out['bboxes'],
                                          out['scores'], out['labels'],
                                          names, score_thr, top_k,
                                          f'{entry.key} (ONNX)')
        masks = np.stack([out == k for k in range(len(names))])
        picture = draw_prompt_segmentation(rgb, masks, names)
        return self._segmentation_result(entry, picture, out, names,
                                         f'{entry.key} (ONNX)')

    @staticmethod
    def _prompt_names(prompts) -> List[str]:
        if isinstance(prompts, str):  # a prompts file
            return [
                e if isinstance(e, str) else e[0]
                for e in Vocabulary.parse(prompts).entries
            ]
        return list(prompts)

    def _heatmaps(self, model, bgr, prompts) -> List[Tuple[np.ndarray,
                                                           str]]:
        names = self._prompt_names(prompts)[:MAX_HEATMAPS]
        maps, names = prompt_similarity_maps(model, bgr, names)
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        value_range = (float(maps.min()), float(maps.max()))
        return [(draw_prompt_heatmap(rgb, sim, name,
                                     value_range=value_range), name)
                for sim, name in zip(maps, names)]

    def describe(self, key: str) -> str:
        """Markdown: which names the model was trained on and which not."""
        entry = self.entries.get(key)
        if entry is None:
            return ''
        where = entry.checkpoint or ''
        lines = [f'**{entry.key}** ({entry.kind}, {entry.task}) — '
                 f'`{where or "no checkpoint"}`']
        if entry.twin:
            lines.append(f'Stock twin: **{entry.twin}**.')
        if entry.missing:
            lines.append(f'⚠ {entry.missing}')
        if entry.seen:
            lines.append(
                f'**Seen in training ({len(entry.seen)} names):** ' +
                ', '.join(entry.seen))
            lines.append(
                f'**Never seen in training ({len(entry.held_out)} held-out '
                'names; type one and see whether it is found):** ' +
                ', '.join(entry.held_out))
        return '\n\n'.join(lines)
