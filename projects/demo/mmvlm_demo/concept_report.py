"""The many-concept part of the demo report, and ``summary.json``.

Reads what :mod:`.concept_eval` wrote (``<work_dir>/concepts/<key>.json``)
and the trees / brain test metrics, and turns them into

- the report's first section: seen / held-out / chance / control /
  retention, per art style, the best and worst held-out names with their
  nearest seen names, and the prediction pictures;
- ``summary.json``: one flat object of the numbers the README quotes
  (keys in :data:`SUMMARY_KEYS`, explained in ``docs/demo.md``).
"""
import json
import math
import os.path as osp
from typing import Dict, List, Optional

from . import concept_names
from .concept_eval import result_path

#: Every key of summary.json, in order (null when its run is missing).
SUMMARY_KEYS = (
    'many_concepts_det_seen_ap50',
    'many_concepts_det_held_out_ap50',
    'many_concepts_det_held_out_chance_ap50',
    'many_concepts_det_held_out_generalised_ap50',
    'many_concepts_det_seen_generalised_ap50',
    'many_concepts_det_noto_seen_ap50',
    'many_concepts_det_noto_held_out_ap50',
    'many_concepts_det_noto_held_out_chance_ap50',
    'many_concepts_det_stock_seen_ap50',
    'many_concepts_det_stock_noto_seen_ap50',
    'many_concepts_det_random_lm_seen_ap50',
    'many_concepts_det_random_lm_held_out_ap50',
    'many_concepts_det_smollm2_seen_ap50',
    'many_concepts_det_smollm2_held_out_ap50',
    'many_concepts_det_smollm2_held_out_chance_ap50',
    'many_concepts_seg_seen_miou',
    'many_concepts_seg_held_out_miou',
    'many_concepts_seg_held_out_chance_miou',
    'many_concepts_seg_held_out_generalised_miou',
    'many_concepts_seg_noto_seen_miou',
    'many_concepts_seg_noto_held_out_miou',
    'many_concepts_seg_stock_seen_miou',
    'retention_frozen_pct',
    'retention_finetuned_pct',
    'retention_frozen_held_out_ap50',
    'retention_finetuned_held_out_ap50',
    'retention_seg_frozen_pct',
    'retention_seg_frozen_held_out_miou',
    'trees_stock_map',
    'trees_stock_ap50',
    'trees_lg_map',
    'trees_lg_ap50',
    'trees_lg_unfrozen_map',
    'trees_lg_unfrozen_ap50',
    'brain_stock_miou',
    'brain_lg_miou',
)


def read_result(work_dir: str, key: str) -> Optional[dict]:
    """One run's :mod:`.concept_eval` result, or None when missing."""
    path = result_path(work_dir, key)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _style(result: Optional[dict], style: str, field: str):
    if result is None:
        return None
    value = result['styles'].get(style, {}).get(field)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def retention_pct(before: Optional[float],
                  after: Optional[float]) -> Optional[float]:
    """``after`` as a percentage of ``before`` (None when undefined)."""
    if before is None or after is None or before <= 0:
        return None
    return round(100.0 * after / before, 1)


def build_summary(work_dir: str, metrics: Dict[str, Optional[dict]]) -> dict:
    """The flat summary of the demo's numbers.

    Args:
        work_dir (str): Demo work directory.
        metrics (dict): Run key -> its test metrics (mmdet's
            ``coco/bbox_mAP`` ... / mmseg's ``mIoU``), or None.

    Returns:
        dict: Every key of :data:`SUMMARY_KEYS` (None when not measured).
    """
    lg = read_result(work_dir, 'concepts_lg')
    stock = read_result(work_dir, 'concepts_stock')
    random_lm = read_result(work_dir, 'concepts_lg_random')
    smollm2 = read_result(work_dir, 'concepts_lg_smollm2')
    frozen = read_result(work_dir, 'det_lg')
    finetuned = read_result(work_dir, 'det_lg_unfrozen')
    seg_lg = read_result(work_dir, 'concepts_seg_lg')
    seg_stock = read_result(work_dir, 'concepts_seg_stock')
    seg_frozen = read_result(work_dir, 'seg_lg')
    before = _style(lg, 'emojione', 'held_out_ap50')

    def coco(key: str, field: str) -> Optional[float]:
        m = metrics.get(key) or {}
        value = m.get(f'coco/bbox_{field}')
        return None if value is None else round(100 * float(value), 1)

    def miou(key: str) -> Optional[float]:
        m = metrics.get(key) or {}
        return None if m.get('mIoU') is None else round(float(m['mIoU']), 1)

    summary = dict(
        many_concepts_det_seen_ap50=_style(lg, 'emojione', 'seen_ap50'),
        many_concepts_det_held_out_ap50=before,
        many_concepts_det_held_out_chance_ap50=_style(
            lg, 'emojione', 'chance_ap50'),
        many_concepts_det_held_out_generalised_ap50=_style(
            lg, 'emojione', 'generalised_held_out_ap50'),
        many_concepts_det_seen_generalised_ap50=_style(
            lg, 'emojione', 'generalised_seen_ap50'),
        many_concepts_det_noto_seen_ap50=_style(lg, 'noto', 'seen_ap50'),
        many_concepts_det_noto_held_out_ap50=_style(lg, 'noto',
                                                    'held_out_ap50'),
        many_concepts_det_noto_held_out_chance_ap50=_style(
            lg, 'noto', 'chance_ap50'),
        many_concepts_det_stock_seen_ap50=_style(stock, 'emojione',
                                                 'seen_ap50'),
        many_concepts_det_stock_noto_seen_ap50=_style(stock, 'noto',
                                                      'seen_ap50'),
        many_concepts_det_random_lm_seen_ap50=_style(random_lm, 'emojione',
                                                     'seen_ap50'),
        many_concepts_det_random_lm_held_out_ap50=_style(
            random_lm, 'emojione', 'held_out_ap50'),
        many_concepts_det_smollm2_seen_ap50=_style(smollm2, 'emojione',
                                                   'seen_ap50'),
        many_concepts_det_smollm2_held_out_ap50=_style(
            smollm2, 'emojione', 'held_out_ap50'),
        many_concepts_det_smollm2_held_out_chance_ap50=_style(
            smollm2, 'emojione', 'chance_ap50'),
        many_concepts_seg_seen_miou=_style(seg_lg, 'emojione', 'seen_miou'),
        many_concepts_seg_held_out_miou=_style(seg_lg, 'emojione',
                                               'held_out_miou'),
        many_concepts_seg_held_out_chance_miou=_style(
            seg_lg, 'emojione', 'chance_miou'),
        many_concepts_seg_held_out_generalised_miou=_style(
            seg_lg, 'emojione', 'generalised_held_out_miou'),
        many_concepts_seg_noto_seen_miou=_style(seg_lg, 'noto', 'seen_miou'),
        many_concepts_seg_noto_held_out_miou=_style(seg_lg, 'noto',
                                                    'held_out_miou'),
        many_concepts_seg_stock_seen_miou=_style(seg_stock, 'emojione',
                                                 'seen_miou'),
        retention_seg_frozen_held_out_miou=_style(
            seg_frozen, 'emojione', 'held_out_miou'),
        retention_frozen_held_out_ap50=_style(frozen, 'emojione',
                                              'held_out_ap50'),
        retention_finetuned_held_out_ap50=_style(finetuned, 'emojione',
                                                 'held_out_ap50'),
        trees_stock_map=coco('det_stock', 'mAP'),
        trees_stock_ap50=coco('det_stock', 'mAP_50'),
        trees_lg_map=coco('det_lg', 'mAP'),
        trees_lg_ap50=coco('det_lg', 'mAP_50'),
        trees_lg_unfrozen_map=coco('det_lg_unfrozen', 'mAP'),
        trees_lg_unfrozen_ap50=coco('det_lg_unfrozen', 'mAP_50'),
        brain_stock_miou=miou('seg_stock'),
        brain_lg_miou=miou('seg_lg'),
    )
    summary['retention_frozen_pct'] = retention_pct(
        before, summary['retention_frozen_held_out_ap50'])
    summary['retention_finetuned_pct'] = retention_pct(
        before, summary['retention_finetuned_held_out_ap50'])
    summary['retention_seg_frozen_pct'] = retention_pct(
        summary['many_concepts_seg_held_out_miou'],
        summary['retention_seg_frozen_held_out_miou'])
    return {k: summary[k] for k in SUMMARY_KEYS}


def _n(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.1f}'


def _ratio(value: Optional[float], base: Optional[float]) -> str:
    if value is None or base is None or base <= 0:
        return '-'
    return f'{value / base:.1f}x'


def per_name_lines(result: dict, count: int = 8) -> List[str]:
    """The best and worst held-out names, each with its nearest seen name.

    Args:
        result (dict): The LG model's :mod:`.concept_eval` result.
        count (int): Names per end.

    Returns:
        list[str]: Markdown table lines.
    """
    per = result['styles']['emojione'].get('held_out_per_name', {})
    nearest = result.get('nearest_seen', {})
    ranked = sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))
    if not ranked:
        return []
    found = sum(1 for _, v in ranked if v >= 10)
    lines = [
        f'{found} of {len(ranked)} held-out names reach AP50 10 or more '
        '(zero-shot, EmojiOne art). Best and worst, each with its nearest '
        'seen name by MiniLM text similarity (cosine):', '',
        '| held-out name | AP50 | nearest seen name (cosine) |',
        '| --- | ---: | --- |'
    ]
    rows = ranked[:count] + [('...', None)] + ranked[-count:]
    for name, value in rows:
        if value is None:
            lines.append('| ... | | |')
            continue
        seen, cos = nearest.get(name, ('-', float('nan')))
        lines.append(f'| {name} | {value:.1f} | {seen} ({cos:.2f}) |')
    return lines


def concept_lines(work_dir: str, summary: dict) -> List[str]:
    """The many-concept section of the report.

    Args:
        work_dir (str): Demo work directory.
        summary (dict): From :func:`build_summary`.

    Returns:
        list[str]: Markdown lines (empty when no many-concept run exists).
    """
    lg = read_result(work_dir, 'concepts_lg')
    stock = read_result(work_dir, 'concepts_stock')
    random_lm = read_result(work_dir, 'concepts_lg_random')
    if lg is None and stock is None:
        return []
    n_seen, n_held = len(concept_names.SEEN), len(concept_names.TEST_HELD_OUT)
    lines = [
        '', '## Names never trained on: the many-concept world', '',
        f'Real artwork of {len(concept_names.ALL)} named everyday concepts '
        '(EmojiOne from Debian `ruby-gemojione`, Noto Color Emoji from '
        '`fonts-noto-color-emoji`) pasted on the demo\'s aerial photos: '
        f'synthetic scenes, not photographs. The detectors trained on {n_seen}'
        ' seen names (EmojiOne art); the '
        f'{n_held} test-held-out names were fixed before training '
        '(`projects/demo/mmvlm_demo/concept_names.py`) and asked only here. '
        'AP50 (COCO, percent) per name, averaged. Zero-shot: held-out scenes,'
        f' only the {n_held} held-out names asked; chance: the same, each '
        'class asked with another held-out name; generalised: scenes with 2 '
        f'seen + 2 held-out concepts, all {n_seen + n_held} names competing. '
        'Noto: the other art style, never trained on.', '',
        '| model | seen | held-out, zero-shot | chance | held-out / chance '
        '| generalised: held-out / seen | Noto: seen / held-out (chance) |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: |'
    ]

    def row(label: str, res: Optional[dict]) -> None:
        if res is None:
            return
        e = res['styles'].get('emojione', {})
        n = res['styles'].get('noto', {})
        if res.get('stock'):
            lines.append(f'| {label} | {_n(e.get("seen_ap50"))} | closed set'
                         f' | - | - | - | {_n(n.get("seen_ap50"))} / - |')
            return
        lines.append(
            f'| {label} | {_n(e.get("seen_ap50"))} | '
            f'**{_n(e.get("held_out_ap50"))}** | {_n(e.get("chance_ap50"))} '
            f'| {_ratio(e.get("held_out_ap50"), e.get("chance_ap50"))} | '
            f'{_n(e.get("generalised_held_out_ap50"))} / '
            f'{_n(e.get("generalised_seen_ap50"))} | '
            f'{_n(n.get("seen_ap50"))} / {_n(n.get("held_out_ap50"))} '
            f'({_n(n.get("chance_ap50"))}) |')

    row('stock ATSS (closed set)', stock)
    row('LG-ATSS, frozen MiniLM', lg)
    row('LG-ATSS, random LM of the same architecture (control)', random_lm)
    row('LG-ATSS, frozen SmolLM2-135M', read_result(work_dir,
                                                    'concepts_lg_smollm2'))
    if random_lm is None:
        lines += [
            '', 'Random-LM control and SmolLM2: not in this run (second '
            'command, `MMVLM_DEMO_MODELS=controls bash tools/run_demo.sh`).'
        ]
    seen = summary['many_concepts_det_seen_ap50']
    held = summary['many_concepts_det_held_out_ap50']
    chance = summary['many_concepts_det_held_out_chance_ap50']
    if seen and held is not None and chance is not None:
        lines += [
            '', f'Goals: held-out >= 10x chance: '
            f'{_ratio(held, chance)} '
            f'({"met" if chance > 0 and held >= 10 * chance else "MISSED"});'
            f' held-out >= 30 % of seen: {100 * held / seen:.0f} % '
            f'({"met" if held >= 0.3 * seen else "MISSED"}).'
        ]
    lines += [
        '', '### Retention after fine-tuning on the tree crowns', '',
        'The tree-crown detectors start from the many-concept checkpoints '
        'and fine-tune on one class; afterwards the held-out concepts are '
        'asked again (zero-shot, EmojiOne art).', '',
        '| model | held-out AP50 after the trees fine-tune | % of before |',
        '| --- | ---: | ---: |',
        f'| LG-ATSS, MiniLM frozen + prefix | '
        f'{_n(summary["retention_frozen_held_out_ap50"])} | '
        f'{_n(summary["retention_frozen_pct"])} % |',
        f'| LG-ATSS, MiniLM fine-tuned | '
        f'{_n(summary["retention_finetuned_held_out_ap50"])} | '
        f'{_n(summary["retention_finetuned_pct"])} % |'
    ]
    if lg is not None:
        lines += ['', '### Held-out names, one by one', '']
        lines += per_name_lines(lg)
        pictures = lg.get('pictures', [])
        if pictures:
            lines += [
                '', 'Predictions with the names asked drawn on the boxes '
                '(`held_out`: only the held-out names asked; `mixed`: seen '
                'and held-out names asked together):', ''
            ]
            lines += [
                f'![{osp.basename(p)}]({osp.relpath(p, work_dir)})'
                for p in pictures
            ]
    return lines + seg_lines(work_dir, summary)


def seg_lines(work_dir: str, summary: dict) -> List[str]:
    """The segmentation part of the many-concept section.

    Args:
        work_dir (str): Demo work directory.
        summary (dict): From :func:`build_summary`.

    Returns:
        list[str]: Markdown lines (a sentence saying so when no
        many-concept segmentor ran).
    """
    seg_lg = read_result(work_dir, 'concepts_seg_lg')
    seg_stock = read_result(work_dir, 'concepts_seg_stock')
    if seg_lg is None and seg_stock is None:
        return [
            '', 'Segmentation in the many-concept world: not in this run '
            '(second command, `MMVLM_DEMO_MODELS=controls bash '
            'tools/run_demo.sh`).'
        ]
    lines = [
        '', '### Segmentation: the same world, pixel by pixel', '',
        'Semantic FPN on the same backbone (frozen), the same split and '
        'scenes; each name\'s IoU (percent) over the split\'s pixels, '
        'averaged over the names present; `background` is asked with every '
        'vocabulary. Zero-shot, chance and generalised as above.', '',
        '| model | seen mIoU | held-out, zero-shot | chance | held-out / '
        'chance | generalised: held-out / seen | Noto: seen / held-out |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: |'
    ]
    if seg_stock is not None:
        e = seg_stock['styles'].get('emojione', {})
        n = seg_stock['styles'].get('noto', {})
        lines.append(f'| stock FPN (closed set) | {_n(e.get("seen_miou"))} '
                     f'| closed set | - | - | - | {_n(n.get("seen_miou"))}'
                     ' / - |')
    if seg_lg is not None:
        e = seg_lg['styles'].get('emojione', {})
        n = seg_lg['styles'].get('noto', {})
        lines.append(
            f'| LG-FPN, frozen MiniLM | {_n(e.get("seen_miou"))} | '
            f'**{_n(e.get("held_out_miou"))}** | '
            f'{_n(e.get("chance_miou"))} | '
            f'{_ratio(e.get("held_out_miou"), e.get("chance_miou"))} | '
            f'{_n(e.get("generalised_held_out_miou"))} / '
            f'{_n(e.get("generalised_seen_miou"))} | '
            f'{_n(n.get("seen_miou"))} / {_n(n.get("held_out_miou"))} |')
        pictures = seg_lg.get('pictures', [])
        if pictures:
            lines += ['', 'Segmentations with the winning names drawn:', '']
            lines += [
                f'![{osp.basename(p)}]({osp.relpath(p, work_dir)})'
                for p in pictures
            ]
    if summary.get('retention_seg_frozen_held_out_miou') is not None:
        lines += [
            '', 'Retention: the brain segmentor (frozen MiniLM + prefix) '
            'starts from this checkpoint; after its fine-tune the held-out '
            'concepts score '
            f'{_n(summary["retention_seg_frozen_held_out_miou"])} mIoU '
            f'({_n(summary["retention_seg_frozen_pct"])} % of before).'
        ]
    return lines


def write_summary(work_dir: str, summary: dict) -> str:
    """Write ``<work_dir>/summary.json``; return its path."""
    path = osp.join(work_dir, 'summary.json')
    with open(path, 'w') as f:
        json.dump(summary, f, indent=1)
    return path

