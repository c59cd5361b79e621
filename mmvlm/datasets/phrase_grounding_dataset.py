"""Phrase-grounding / referring datasets whose vocabulary is free text."""
import json
import logging
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

from mmdet.datasets import BaseDetDataset
from mmengine.fileio import get_text
from mmengine.logging import print_log

from mmvlm.registry import DATASETS
from .class_texts import truncate_text

ANNOTATION_FORMATS = ('auto', 'odvg', 'refcoco')
SENTENCE_MODES = ('all', 'first')


# Registered for mmseg too (the module is only imported with mmdet
# installed): phrase masks feed segmentation through PhraseMasksToSegMap.
@DATASETS.register_module()
class PhraseGroundingDataset(BaseDetDataset):
    """Images with phrases grounded to boxes (and masks).

    Each sample's vocabulary is its own phrases: ``text`` holds the unique
    phrases of the image in order of appearance, and every box's
    ``bbox_label`` indexes into it; ``text_label_ids`` are all −1 (a
    phrase is not a dataset class). No :class:`LoadClassTexts` is needed;
    :class:`RandomSampleNegativeTexts` (``num_negatives=0``) pads the
    vocabulary to a fixed size. For segmentation (an mmseg config),
    :class:`PhraseMasksToSegMap` paints the phrase masks into
    ``gt_seg_map``.

    Two annotation formats are read (``ann_format='auto'`` tells them apart
    by the file: ``.jsonl`` / a json list → ODVG, a json object with
    ``images`` and ``annotations`` → RefCOCO):

    - **ODVG** (grounding mode; one record per line or a json list):
      ``{"filename", "height", "width", "grounding": {"caption",
      "regions": [{"bbox": [x1, y1, x2, y2] | [[...], ...], "phrase",
      "tokens_positive": [[start, end], ...]}]}}``. A region without
      ``phrase`` takes the caption's ``tokens_positive`` spans.
    - **RefCOCO** (COCO json): ``images`` (``id``, ``file_name``,
      ``height``, ``width``, optional ``caption``) and ``annotations``
      (``image_id``, ``bbox`` as x, y, w, h, optional ``segmentation``)
      whose phrase is ``phrase``, the ``sentences`` (``raw`` or ``sent``,
      as in the refs of RefCOCO/+/g) or the caption spans of
      ``tokens_positive`` (MDETR style). ``segmentation`` becomes the
      instance ``mask`` (load it with ``LoadAnnotations(with_mask=True)``).

    Bad samples do not stop training: an image with no groundable phrase
    (no region, empty phrases, only degenerate boxes) is skipped, and one
    warning reports how many were. Phrases and captions longer than
    ``max_text_chars`` are cut at a word boundary, with one warning for the
    whole file. Non-ASCII text is kept as is.

    Args:
        ann_format (str): ``'auto'``, ``'odvg'`` or ``'refcoco'``.
            Defaults to ``'auto'``.
        sentence_mode (str): For several sentences per object (RefCOCO):
            ``'all'`` makes them one tuple entry (synonyms averaged by the
            model), ``'first'`` keeps the first. Defaults to ``'all'``.
        max_text_chars (int): Longest phrase / caption kept, in characters.
            Defaults to 256.
        **kwargs: :class:`mmdet.datasets.BaseDetDataset` arguments
            (``ann_file``, ``data_root``, ``data_prefix=dict(img=...)``,
            ``pipeline``, ``test_mode``, ...).
    """

    METAINFO = dict(classes=())

    def __init__(self,
                 *args,
                 ann_format: str = 'auto',
                 sentence_mode: str = 'all',
                 max_text_chars: int = 256,
                 **kwargs) -> None:
        if ann_format not in ANNOTATION_FORMATS:
            raise ValueError(f'ann_format must be one of '
                             f'{ANNOTATION_FORMATS}, got {ann_format!r}.')
        if sentence_mode not in SENTENCE_MODES:
            raise ValueError(f'sentence_mode must be one of {SENTENCE_MODES},'
                             f' got {sentence_mode!r}.')
        if max_text_chars < 1:
            raise ValueError(
                f'max_text_chars must be >= 1, got {max_text_chars}.')
        self.ann_format = ann_format
        self.sentence_mode = sentence_mode
        self.max_text_chars = max_text_chars
        #: Counters of the last load: samples read / skipped, texts cut.
        self.load_stats: Dict[str, int] = {}
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------- reading
    def _read_records(self) -> Tuple[str, object]:
        text = get_text(
            self.ann_file, encoding='utf-8', backend_args=self.backend_args)
        fmt = self.ann_format
        stripped = text.lstrip()
        if fmt == 'auto':
            if self.ann_file.endswith('.jsonl'):
                fmt = 'odvg'
            elif stripped.startswith('['):
                fmt = 'odvg'
            elif stripped.startswith('{') and '"annotations"' in text:
                fmt = 'refcoco'
            else:
                fmt = 'odvg'
        if fmt == 'odvg':
            if stripped.startswith('['):
                return fmt, json.loads(text)
            records = []
            for line_no, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(
                        f'Line {line_no} of ODVG file {self.ann_file!r} is '
                        f'not valid json: {err}.') from None
            return fmt, records
        data = json.loads(text)
        if not isinstance(data, dict) or 'images' not in data:
            raise ValueError(
                f'RefCOCO-style file {self.ann_file!r} must be a json object '
                "with 'images' and 'annotations'.")
        return fmt, data

    def load_data_list(self) -> List[dict]:
        """Read the annotation file into data infos.

        Returns:
            list[dict]: One data info per image with a groundable phrase.
        """
        self.load_stats = dict(read=0, skipped=0, truncated=0)
        fmt, records = self._read_records()
        if fmt == 'odvg':
            for index, record in enumerate(records):
                if not isinstance(record, dict) or 'filename' not in record:
                    raise ValueError(
                        f'Record {index} of ODVG file {self.ann_file!r} has '
                        'no "filename"; each record needs filename, height, '
                        'width and grounding (caption, regions).')
            samples = [self._parse_odvg(r) for r in records]
        else:
            samples = self._parse_refcoco(records)
        self.load_stats['read'] = len(samples)
        data_list = [s for s in samples if s is not None]
        self.load_stats['skipped'] = len(samples) - len(data_list)
        if self.load_stats['skipped']:
            print_log(
                f'PhraseGroundingDataset skipped {self.load_stats["skipped"]}'
                f' of {len(samples)} samples of {self.ann_file!r} that have '
                'no groundable phrase (no region, empty phrase or only '
                'degenerate boxes).',
                logger='current',
                level=logging.WARNING)
        if self.load_stats['truncated']:
            print_log(
                f'PhraseGroundingDataset cut {self.load_stats["truncated"]} '
                f'phrases/captions of {self.ann_file!r} to '
                f'max_text_chars={self.max_text_chars} characters.',
                logger='current',
                level=logging.WARNING)
        if not data_list and samples:
            raise ValueError(
                f'No sample of {self.ann_file!r} has a groundable phrase; '
                'check the file format (ann_format) and its phrases.')
        return data_list

    # ------------------------------------------------------------- helpers
    def _cut(self, text: str) -> str:
        text, was_cut = truncate_text(text.strip(), self.max_text_chars)
        if was_cut:
            self.load_stats['truncated'] += 1
        return text

    def _phrase_entry(self, phrases: List[str]):
        """One vocabulary entry from the sentences of one object."""
        phrases = [self._cut(p) for p in phrases if isinstance(p, str)]
        phrases = list(dict.fromkeys(p for p in phrases if p))
        if not phrases:
            return None
        if self.sentence_mode == 'first' or len(phrases) == 1:
            return phrases[0]
        return tuple(phrases)

    @staticmethod
    def _spans(caption: str, spans) -> List[str]:
        if not caption or not spans:
            return []
        return [' '.join(caption[int(s):int(e)] for s, e in spans)]

    @staticmethod
    def _valid_box(box, width, height) -> bool:
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            return False
        x1, y1, x2, y2 = (float(v) for v in box)
        if x2 - x1 < 1 or y2 - y1 < 1:
            return False
        if width and height:
            inter_w = min(x2, width) - max(x1, 0)
            inter_h = min(y2, height) - max(y1, 0)
            if inter_w <= 0 or inter_h <= 0:
                return False
        return True

    def _make_sample(self, img_path: str, img_id, height, width,
                     caption: Optional[str], objects: List[tuple]):
        """Build a data info from (entry, box, mask) triples or None."""
        entries: Dict[object, int] = {}
        instances = []
        for entry, box, mask in objects:
            if entry is None or not self._valid_box(box, width, height):
                continue
            label = entries.setdefault(entry, len(entries))
            instance = dict(
                bbox=[float(v) for v in box], bbox_label=label, ignore_flag=0)
            if mask is not None:
                instance['mask'] = mask
            instances.append(instance)
        if not instances:
            return None
        num_texts = len(entries)
        info = dict(
            img_path=img_path,
            img_id=img_id,
            height=height,
            width=width,
            instances=instances,
            text=tuple(entries),
            text_mask=(True, ) * num_texts,
            text_label_ids=(-1, ) * num_texts,
            custom_entities=True)
        if caption:
            info['caption'] = self._cut(caption)
        return info

    def _parse_odvg(self, record: dict) -> Optional[dict]:
        grounding = record.get('grounding') or {}
        caption = grounding.get('caption') or ''
        objects = []
        for region in grounding.get('regions') or []:
            phrase = region.get('phrase')
            phrases = [phrase] if phrase else self._spans(
                caption, region.get('tokens_positive'))
            entry = self._phrase_entry(phrases)
            boxes = region.get('bbox') or []
            if boxes and not isinstance(boxes[0], (list, tuple)):
                boxes = [boxes]
            objects.extend((entry, box, None) for box in boxes)
        img_path = osp.join(self.data_prefix.get('img', ''),
                            record['filename'])
        return self._make_sample(img_path, record.get('image_id',
                                                      record['filename']),
                                 record.get('height'), record.get('width'),
                                 caption, objects)

    def _parse_refcoco(self, data: dict) -> List[Optional[dict]]:
        anns_per_image = defaultdict(list)
        for ann in data.get('annotations') or []:
            anns_per_image[ann['image_id']].append(ann)
        samples = []
        for image in data['images']:
            caption = image.get('caption') or ''
            objects = []
            for ann in anns_per_image[image['id']]:
                if ann.get('phrase'):
                    phrases = [ann['phrase']]
                elif ann.get('sentences'):
                    phrases = [
                        s.get('raw') or s.get('sent') or ''
                        if isinstance(s, dict) else s
                        for s in ann['sentences']
                    ]
                else:
                    phrases = self._spans(caption, ann.get('tokens_positive'))
                x, y, w, h = ann['bbox']
                objects.append((self._phrase_entry(phrases),
                                [x, y, x + w, y + h],
                                ann.get('segmentation') or None))
            img_path = osp.join(
                self.data_prefix.get('img', ''), image['file_name'])
            samples.append(
                self._make_sample(img_path, image['id'], image.get('height'),
                                  image.get('width'), caption, objects))
        return samples
