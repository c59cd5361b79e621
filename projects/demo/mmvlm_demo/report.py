"""Write the markdown report of the mmvlm demo (``tools/run_demo.sh``, which
runs ``projects/demo/run_demo.sh``).

It gathers, from the demo work directory:

- the test metrics the stock runners dumped (``<run>/test/<timestamp>/
  <timestamp>.json``) of every run of :data:`.demo_models.DEMO_MODELS`;
- the open-vocabulary probes (``open_vocab/open_vocab.json``, written by
  :mod:`.open_vocabulary` through ``mmvlm.apis.evaluate_prompts``);
- the step timings written by the run script (``timings.tsv``);
- the training logs (``<run>/<timestamp>/vis_data/scalars.json``), drawn
  into ``training_curves.png`` (:mod:`.plots`);

and writes ``report.md``: one table side by side first, then the details
(per held-out name, paraphrases, specificity), pictures, curves and times.
Each table has one sentence on what the models can and cannot do, written
from the numbers.

Usage (from the repository root)::

    python -m projects.demo.mmvlm_demo.report --work-dir work_dirs/demo \
        [--data-root data/demo]
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import probes as probes_mod
from .concept_report import build_summary, concept_lines, write_summary
from .demo_models import CONTROL_MODELS, DEMO_MODELS
from .plots import plot_training_curves, read_scalars
from .vocabulary_splits import HELD_OUT, SEEN, UNRELATED

TASKS = (('trees', 'Detection: tree crowns (NEON aerial tiles, test split)'),
         ('brain', 'Segmentation: brain regions (Colin27 T1 + AAL, test '
          'slices)'))
#: Legend of each kind of model.
KIND_LABEL = {
    'stock': 'stock (closed set)',
    'scratch': 'stock, backbone from scratch',
    'lg-frozen': 'LG-MiniLM (frozen LM + prefix)',
    'lg-unfrozen': 'LG-MiniLM unfrozen (LM fine-tuned)',
    'lg-smollm2': 'LG-SmolLM2-135M (frozen LM + prefix)',
}
#: Test metric of the seen classes per task: (json key, label, scale).
SEEN_KEYS = {
    'concepts': (('coco/bbox_mAP', 'bbox mAP', 100.0),
                 ('coco/bbox_mAP_50', 'AP50', 100.0)),
    'trees': (('coco/bbox_mAP', 'bbox mAP', 100.0),
              ('coco/bbox_mAP_50', 'AP50', 100.0)),
    'brain': (('mIoU', 'mIoU', 1.0), ('mDice', 'mDice', 1.0)),
}
#: Open-vocabulary metric per task.
OV_METRIC = {'trees': 'AP50', 'brain': 'IoU'}
#: Unrelated prompts may score at most this fraction of the right name.
SPECIFICITY_GOAL = 0.2


def latest_test_metrics(run_dir: str) -> Optional[Dict[str, float]]:
    """Metrics of the newest test run under ``<run_dir>/test``.

    Args:
        run_dir (str): Work directory of one training run.

    Returns:
        dict | None: Metric name -> value, None when there is no test run
        (``{}`` when it logged no metric: ``CocoMetric`` logs none when
        the model predicts no box).
    """
    found = sorted(glob.glob(osp.join(run_dir, 'test', '*', '*.json')))
    if not found:
        return None
    for path in reversed(found):
        with open(path) as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
        for line in reversed(lines):
            record = json.loads(line)
            if any(k.startswith('coco/') or k in ('mIoU', 'aAcc')
                   for k in record):
                return record
    return {}


def read_timings(path: str) -> Dict[str, int]:
    """Step timings ``name<TAB>seconds`` written by the run script.

    Args:
        path (str): The ``timings.tsv`` file.

    Returns:
        dict[str, int]: Step name -> seconds (empty when there is no file).
    """
    timings = {}
    if osp.isfile(path):
        with open(path) as f:
            for line in f:
                if '\t' in line:
                    name, sec = line.rstrip('\n').split('\t')[:2]
                    timings[name] = int(float(sec))
    return timings


def _minutes(seconds: Optional[int]) -> str:
    if seconds is None:
        return 'n/a'
    return f'{seconds // 60} min {seconds % 60:02d} s'


def _num(value: Optional[float], digits: int = 1) -> str:
    return 'n/a' if value is None else f'{value:.{digits}f}'


def _pct(fraction: Optional[float]) -> str:
    return 'n/a' if fraction is None else f'{100 * fraction:.0f} %'


def _mean(values) -> Optional[float]:
    values = [v for v in values if v is not None]
    return None if not values else float(np.mean(values))


def _label(entry: dict) -> str:
    return KIND_LABEL.get(entry['kind'], entry['kind'])


def _seen(entry: dict, metrics: Optional[dict]) -> List[Optional[float]]:
    if metrics is None:
        return [None for _ in SEEN_KEYS[entry['task']]]
    # the many-concept task has detectors and segmentors
    keys = SEEN_KEYS['brain' if 'mIoU' in metrics else entry['task']]
    return [scale * float(metrics.get(k, 0.0)) for k, _, scale in keys]


def glance_lines(task: str, entries: Sequence[dict], metrics: dict,
                 probes: dict, timings: dict) -> List[str]:
    """The side-by-side table of one task and its sentence.

    Args:
        task (str): ``'trees'`` or ``'brain'``.
        entries (Sequence[dict]): The task's models.
        metrics (dict): Run key -> test metrics.
        probes (dict): Run key -> open-vocabulary probe results.
        timings (dict): Step -> seconds.

    Returns:
        list[str]: Markdown lines.
    """
    m = OV_METRIC[task]
    seen_names = ' / '.join(n for _, n, _ in SEEN_KEYS[task])
    lines = [
        f'| model | seen: {seen_names} | held-out names: {m} | chance: {m} '
        f'| paraphrased: % of name | unrelated words: % of right name | '
        'train time |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |'
    ]
    for e in entries:
        seen = ' / '.join(_num(v) for v in _seen(e, metrics.get(e['key'])))
        p = probes.get(e['key'])
        if e['kind'] in ('stock', 'scratch'):
            ov = ['closed set: cannot'] + ['-'] * 3
        elif p is None:
            ov = ['not run'] * 4
        elif not p['held_out']:
            ov = ['n/a: ' + p.get('note', 'not measured')[:60], 'n/a',
                  _pct(p['paraphrase_fraction']), _unrelated_cell(p)]
        else:
            ov = [_num(_mean(p['held_out'].values())),
                  _num(_mean(p['chance'].values())),
                  _pct(p['paraphrase_fraction']), _unrelated_cell(p)]
        lines.append(f'| {_label(e)} | {seen} | ' + ' | '.join(ov) +
                     f' | {_minutes(timings.get("train_" + e["key"]))} |')
    lines += ['', glance_sentence(task, entries, metrics, probes, timings)]
    return lines


def specificity_fraction(probe: dict) -> Optional[float]:
    """Best unrelated word / right name: at the operating point when the
    probe has one (detection), else at the config's threshold."""
    if probe.get('operating_score_thr') is not None:
        return probe['operating_unrelated_fraction']
    return probe['unrelated_fraction']


def _unrelated_cell(probe: dict) -> str:
    thr = probe.get('operating_score_thr')
    if thr is None:
        return _pct(probe['unrelated_fraction'])
    return (f'{_pct(probe["operating_unrelated_fraction"])} at score '
            f'{thr:g} ({_pct(probe["unrelated_fraction"])} at any score)')


def names_above_chance(probe: dict):
    """Held-out names whose metric beats their chance baseline by more
    than one point, and the names that have a baseline.

    Returns:
        tuple[list[str], list[str]]: ``(above, names)``.
    """
    names = [n for n in probe['held_out']
             if probe['chance'].get(n) is not None]
    above = [n for n in names
             if probe['held_out'][n] > probe['chance'][n] + 1]
    return above, names


def glance_sentence(task: str, entries: Sequence[dict], metrics: dict,
                    probes: dict, timings: dict) -> str:
    """One sentence on what the models of a task can and cannot do.

    Written from the numbers: language-guided vs stock on the seen
    classes, held-out names vs chance, paraphrases kept, unrelated words
    vs :data:`SPECIFICITY_GOAL`.
    """
    m = OV_METRIC[task]
    stock = next((e for e in entries if e['kind'] == 'stock'), None)
    probed = sorted((e for e in entries if e['key'] in probes),
                    key=lambda e: e['kind'] != 'lg-frozen')
    if not probed:
        return 'No language-guided model of this task was probed.'
    main = probed[0]  # the frozen LM + prefix when it was probed
    parts = []
    if stock is not None and metrics.get(stock['key']) is not None and \
            metrics.get(main['key']) is not None:
        d = _seen(main, metrics[main['key']])[0] - _seen(
            stock, metrics[stock['key']])[0]
        parts.append(f'on the seen classes the language-guided model is '
                     f'{d:+.1f} points from the stock one')
    p = probes[main['key']]
    held, chance = _mean(p['held_out'].values()), _mean(p['chance'].values())
    if held is not None and chance is not None:
        # per name: a mean can beat chance on one name alone (e.g. "living
        # tree" scoring like the seen "tree" while "dead tree" finds nothing)
        above, names = names_above_chance(p)
        if names and len(above) == len(names):
            verdict = 'finds held-out names above chance'
        elif above:
            verdict = (f'finds {len(above)} of {len(names)} held-out names '
                       f'above chance ({", ".join(above)}), not the others')
        else:
            verdict = 'does not find held-out names beyond chance'
        parts.append(f'it {verdict} (mean {m} {held:.1f} vs {chance:.1f})')
    frac = p['paraphrase_fraction']
    if frac is not None:
        parts.append(f'paraphrases it never saw keep {100 * frac:.0f} % of '
                     'the score of the trained names')
    unrel = specificity_fraction(p)
    if unrel is not None:
        ok = unrel <= SPECIFICITY_GOAL
        thr = p.get('operating_score_thr')
        where = '' if thr is None else f' at the operating score {thr:g}'
        parts.append(
            f'the best unrelated word scores {100 * unrel:.0f} % of the '
            f'right name{where} ({"within" if ok else "above"} the '
            f'{100 * SPECIFICITY_GOAL:.0f} % goal: the words '
            f'{"matter" if ok else "matter too little"})')
    if not parts:
        return ''
    text = '; '.join(parts)
    return f'**{_label(main)}**: {text}.'


def held_out_lines(task: str, entries: Sequence[dict],
                   probes: dict) -> List[str]:
    """Per held-out name, every language-guided model, chance, retention."""
    m = OV_METRIC[task]
    lg = [e for e in entries if e['key'] in probes]
    if not lg:
        return []
    lines = [f'Held-out names ({m} and what the name labelled; names '
             'never trained on; chance: the class asked for with another '
             'held-out name):', '',
             '| held-out name | ' + ' | '.join(_label(e) for e in lg) +
             ' | chance (' + _label(lg[0]).split(' (')[0] + ') |',
             '| --- | ' + ' | '.join('---:' for _ in lg) + ' | ---: |']
    unit = 'boxes' if task == 'trees' else 'pixels'

    def cell(e, name):
        p = probes[e['key']]
        count = p.get('held_out_predicted', {}).get(name)
        return _num(p['held_out'].get(name)) + (
            '' if count is None else f' ({count} {unit})')

    for name in HELD_OUT[task]:
        lines.append(f'| {name} | ' + ' | '.join(
            cell(e, name) for e in lg) +
            f' | {_num(probes[lg[0]["key"]]["chance"].get(name))} |')
    lines += ['', held_out_sentence(task, probes[lg[0]['key']],
                                    _label(lg[0]))]
    seen_name = probes[lg[0]['key']].get('held_out_with_seen_name')
    if seen_name:
        lines += ['', 'Same crowns asked for with the seen name only ('
                  + ', '.join(f'`{k}`: {_num(v)}' for k, v in
                              seen_name.items()) + f' {m}).']
    frozen = next((e for e in lg if e['kind'] == 'lg-frozen'), None)
    unfrozen = next((e for e in lg if e['kind'] == 'lg-unfrozen'), None)
    if frozen and unfrozen:
        f_ = _mean(probes[frozen['key']]['held_out'].values())
        u_ = _mean(probes[unfrozen['key']]['held_out'].values())
        ratio = (f'{100 * u_ / f_:.0f} %' if f_ else 'n/a')
        fc = _mean(probes[frozen['key']]['chance'].values())
        uc = _mean(probes[unfrozen['key']]['chance'].values())
        above_chance = []
        for e in (frozen, unfrozen):
            above, names = names_above_chance(probes[e['key']])
            above_chance.append(bool(names) and len(above) == len(names))
        if not any(above_chance):
            verdict = ('Neither model finds every held-out name above '
                       'chance, so what fine-tuning does to that ability '
                       'cannot be measured here.')
        elif (u_ or 0) < (f_ or 0) - 1:
            verdict = ('Fine-tuning the language model lost part of the '
                       'novel-name ability.')
        else:
            verdict = ('Fine-tuning the language model did not lose '
                       'novel-name ability here.')
        lines += ['', f'Retention after the same fine-tuning: held-out '
                  f'{m} {_num(f_)} with the frozen LM + prefix vs '
                  f'{_num(u_)} with the LM fine-tuned ({ratio} of the '
                  f'frozen one; chance {_num(fc)} / {_num(uc)}). ' + verdict]
    return lines


def _twin(name: str) -> str:
    for a, b in (('left ', 'right '), ('right ', 'left ')):
        if name.startswith(a):
            return b + name[len(a):]
    return name


def held_out_sentence(task: str, probe: dict, label: str) -> str:
    """What the held-out table says, in one sentence from its numbers.

    Brain: held-out regions whose other-side twin was trained on (a new
    combination of seen words) apart from regions whose word was never
    seen. Trees: whether the word tells dead from living crowns.
    """
    m = OV_METRIC[task]
    held, chance = probe['held_out'], probe['chance']
    if not held:
        return ''
    if task == 'trees' and {'dead tree', 'living tree'} <= set(held):
        dead, swapped = held['dead tree'], chance.get('dead tree')
        verdict = ('tells dead crowns from living ones by the word'
                   if swapped is not None and dead > swapped + 1 else
                   'does not tell dead crowns from living ones by the word')
        return (f'{label}: `dead tree` finds the dead crowns with {m} '
                f'{_num(dead)}, `living tree` finds them with '
                f'{_num(swapped)}: it {verdict}.')
    seen = set(SEEN[task])
    groups = (('new combinations of seen words (the other side of a '
               'trained region)', [n for n in held if _twin(n) in seen
                                    and _twin(n) != n]),
              ('words never seen', [n for n in held if _twin(n) not in seen
                                    or _twin(n) == n]))
    parts = []
    for title, names in groups:
        if names:
            parts.append(
                f'{title} ({", ".join(names)}): {m} '
                f'{_num(_mean(held[n] for n in names))} vs chance '
                f'{_num(_mean(chance.get(n) for n in names))}')
    return f'{label}: ' + '; '.join(parts) + '.'


def detail_lines(task: str, entries: Sequence[dict],
                 probes: dict) -> List[str]:
    """Paraphrases and specificity, per prompt and model."""
    m = OV_METRIC[task]
    lg = [e for e in entries if e['key'] in probes]
    if not lg:
        return []
    first = probes[lg[0]['key']]
    cls = first['specificity_class']
    unit = 'boxes' if task == 'trees' else 'pixels'

    def cell(e, prompt, value):
        p = probes[e['key']]
        count = p.get('specificity_predicted', {}).get(prompt)
        text = _num(value) + ('' if count is None else f' ({count} {unit})')
        thr = p.get('operating_score_thr')
        if thr is not None:
            at = (p['operating_right'] if prompt == cls else
                  p['operating_specificity'].get(prompt))
            text += (f'; at score {thr:g}: {_num(at)} '
                     f'({p["operating_predicted"].get(prompt)} {unit})')
        top = p.get('specificity_top_score', {}).get(prompt)
        if top is not None:
            text += f'; top score {top:.3f}'
        return text

    operating = ('' if first.get('operating_score_thr') is None else
                 '; detection also at the operating point: the highest '
                 'score threshold at which the right name keeps '
                 f'{100 * probes_mod.OPERATING_KEEP:.0f} % of its {m}, '
                 'chosen on the right name alone (AP ranks boxes and '
                 'ignores how high they score); top score: the prompt\'s '
                 'best box score per image, averaged')
    lines = ['', f'Prompt specificity: `{cls}` asked for with unrelated '
             f'words and a near paraphrase ({m}, and the {unit} the prompt '
             f'labelled{operating}; goal: unrelated <= '
             f'{100 * SPECIFICITY_GOAL:.0f} % of the right name):', '',
             '| prompt | ' + ' | '.join(_label(e) for e in lg) + ' |',
             '| --- | ' + ' | '.join('---:' for _ in lg) + ' |',
             f'| `{cls}` (right name) | ' + ' | '.join(
                 cell(e, cls, probes[e['key']]['right']) for e in lg) + ' |']
    for prompt in first['specificity']:
        tag = 'unrelated' if prompt in UNRELATED[task] else 'paraphrase'
        lines.append(f'| `{prompt}` ({tag}) | ' + ' | '.join(
            cell(e, prompt, probes[e['key']]['specificity'].get(prompt))
            for e in lg) + ' |')
    lines += ['', ' '.join(specificity_sentence(
        task, probes[e['key']], _label(e)) for e in lg)]
    lines += ['', f'Paraphrases of the seen names ({m} under the name / '
              'under each paraphrase, never trained on):', '',
              '| seen name: paraphrases | ' + ' | '.join(
                  _label(e) for e in lg) + ' |',
              '| --- | ' + ' | '.join('---:' for _ in lg) + ' |']
    for name in first['seen']:
        alts = [probes_mod.paraphrase(task, name, k)
                for k in range(probes_mod.NUM_PARAPHRASE_SETS)]
        if None in alts:
            continue
        cells = []
        for e in lg:
            p = probes[e['key']]
            sets = [p['paraphrases'].get(k, p['paraphrases'].get(str(k),
                                                                  {}))
                    for k in range(len(alts))]
            values = [p['seen'].get(name)] + [
                sets[k].get(f'{alt} ({name})') for k, alt in enumerate(alts)]
            cells.append(' / '.join(_num(v) for v in values))
        lines.append(f'| {name}: ' + '; '.join(alts) + ' | ' +
                     ' | '.join(cells) + ' |')
    lines += ['', paraphrase_sentence(task, first, _label(lg[0]))]
    return lines


def specificity_sentence(task: str, probe: dict, label: str) -> str:
    """Unrelated words and the near paraphrase against the right name."""
    unrel, near = probe['unrelated_fraction'], probe['near_fraction']
    if unrel is None:
        return (f'{label}: the right name scores 0, so specificity is not '
                'measured.')
    thr = probe.get('operating_score_thr')
    where, any_score = '', ''
    if thr is not None:  # detection: judged at the operating point
        where = f' at the operating score {thr:g}'
        tops = probe.get('specificity_top_score', {})
        right_top = tops.get(probe['specificity_class'])
        best_top = max((tops.get(u) or 0.0 for u in UNRELATED[task]),
                       default=0.0)
        top_text = ('' if not right_top else
                    f'; its best boxes score {best_top:.3f} against '
                    f'{right_top:.3f} for the right name '
                    f'({100 * best_top / right_top:.0f} %)')
        any_score = (f' At any score (the config\'s score_thr) the best '
                     f'unrelated word keeps {_pct(unrel)}, because AP only '
                     f'ranks the boxes{top_text}.')
        unrel = probe['operating_unrelated_fraction']
        near = probe['operating_near_fraction']
    verdict = ('the words matter' if unrel <= SPECIFICITY_GOAL else
               'it answers unrelated words with the same objects')
    return (f'{label}:{where} the best unrelated word keeps {_pct(unrel)} '
            f'of the right name\'s {OV_METRIC[task]} (goal <= '
            f'{100 * SPECIFICITY_GOAL:.0f} %: {verdict}), the near '
            f'paraphrase {_pct(near)}.' + any_score)


def paraphrase_sentence(task: str, probe: dict, label: str) -> str:
    """How much of the trained names' score the paraphrases keep."""
    frac = probe['paraphrase_fraction']
    if frac is None:
        return ''
    kept = []
    for values in probe['paraphrases'].values():
        for key, value in values.items():
            name = key[key.rindex('(') + 1:-1]
            own = probe['seen'].get(name)
            if own:
                kept.append((value / own, key.split(' (')[0]))
    if not kept:
        return ''
    kept.sort()
    zero = sum(1 for f, _ in kept if f < 0.05)
    return (f'{label}: paraphrases never trained on keep {_pct(frac)} of '
            f'the trained names\' {OV_METRIC[task]} overall, from '
            f'`{kept[0][1]}` ({_pct(kept[0][0])}) to `{kept[-1][1]}` '
            f'({_pct(kept[-1][0])}); {zero} of {len(kept)} keep almost '
            'nothing (< 5 %).')


def test_picture(run_dir: str) -> Optional[str]:
    """One prediction PNG ``tools/test.py --show-dir`` wrote for a run.

    Args:
        run_dir (str): The run's work dir (PNGs under ``vis/``).

    Returns:
        str | None: The test tile with dead / living crowns when there is
        one, else the middle PNG (a mid-brain slice); None without PNGs.
    """
    found = sorted(glob.glob(osp.join(run_dir, 'vis', '**', '*.png'),
                             recursive=True))
    preferred = [p for p in found if 'SOAP_061' in osp.basename(p)]
    if preferred:
        return preferred[0]
    return found[len(found) // 2] if found else None


def picture_lines(work_dir: str, probes: dict,
                  models: Sequence[dict] = ()) -> List[str]:
    """Embedded PNGs (paths relative to the report): one test prediction
    per run, then the open-vocabulary pictures and heat-maps."""
    lines = []
    for m in models:
        png = test_picture(osp.join(work_dir, m['key']))
        if png:
            lines.append(f'![{_label(m)}: test prediction]'
                         f'({osp.relpath(png, work_dir)})')
    for key, p in probes.items():
        for path in p.get('images', []):
            rel = osp.relpath(path, work_dir)
            lines.append(f'![{key}: {osp.basename(path)}]({rel})')
    return lines


def build_report(work_dir: str, data_root: str,
                 models: Optional[Sequence[dict]] = None) -> str:
    """Compose the markdown report.

    Args:
        work_dir (str): Demo work directory.
        data_root (str): Demo data root.
        models (Sequence[dict], optional): Runs; default
            :data:`DEMO_MODELS` and the :data:`CONTROL_MODELS` that ran.

    Returns:
        str: The markdown text.
    """
    models = list(models or DEMO_MODELS + [
        m for m in CONTROL_MODELS
        if osp.isdir(osp.join(work_dir, m['key']))
    ])
    timings = read_timings(osp.join(work_dir, 'timings.tsv'))
    metrics = {m['key']: latest_test_metrics(osp.join(work_dir, m['key']))
               for m in models}
    from_val = []
    for m in models:  # no test run: the validation at the end of training
        if metrics[m['key']] is None:
            _, vals = read_scalars(osp.join(work_dir, m['key']))
            if vals:
                metrics[m['key']] = vals[-1][1]
                from_val.append(m['key'])
    ov_path = osp.join(work_dir, 'open_vocab', 'open_vocab.json')
    probes, failed = {}, {}
    if osp.isfile(ov_path):
        with open(ov_path) as f:
            ov = json.load(f)
        probes, failed = ov.get('models', {}), ov.get('failed', {})
    lines: List[str] = [
        '# mmvlm demo report', '',
        f'Total time: **{_minutes(timings.get("total"))}**. Stock and '
        'language-guided (LG) twins share data, backbone, iterations and '
        'seed; held-out names were fixed before training '
        '(`projects/demo/mmvlm_demo/vocabulary_splits.py`) and never '
        'trained on. Every open-vocabulary number comes from '
        '`mmvlm.apis.evaluate_prompts` (the stock CocoMetric / IoUMetric '
        'per prompt, with a check that the model scored exactly the '
        'prompts asked).']
    lines += concept_lines(work_dir, build_summary(work_dir, metrics))
    if failed:
        lines += ['', '**Open-vocabulary probes FAILED** for ' + '; '.join(
            f'`{k}`: {v}' for k, v in failed.items()) + ' (see the '
            'open_vocab step\'s output).']
    lines += ['', '## At a glance']
    for task, title in TASKS:
        entries = [m for m in models if m['task'] == task]
        if not entries:
            continue
        lines += ['', f'### {title}', '']
        lines += glance_lines(task, entries, metrics, probes, timings)
        val_only = [_label(e) for e in entries if e['key'] in from_val]
        if val_only:
            lines += ['', 'Seen metric of ' + ', '.join(val_only) + ': '
                      'from the validation at the end of training (no '
                      'tools/test.py run found).']
        lines += [''] + held_out_lines(task, entries, probes)
        lines += detail_lines(task, entries, probes)
    lines += cost_lines(models, timings)
    curves = plot_training_curves(
        work_dir, models, osp.join(work_dir, 'training_curves.png'),
        {m['key']: _label(m) for m in models},
        {m['key']: _seen(m, metrics[m['key']])[0] for m in models
         if metrics[m['key']] is not None})
    lines += ['', '## Training curves', '']
    lines.append('Training loss (log scale) and validation metric of each '
                 'model over iterations, from mmengine\'s scalar logs '
                 '(`<run>/<timestamp>/vis_data/scalars.json`); stars: the '
                 'final test metric.' if curves else
                 '(no training log found)')
    if curves:
        lines += ['', '![training loss and validation metric per model]'
                  '(training_curves.png)']
    pictures = picture_lines(work_dir, probes, models)
    if pictures:
        lines += ['', '## Pictures: predictions labelled with their prompts,'
                  ' similarity per held-out prompt', '',
                  'Heat-maps (`open_vocab/*_heatmap_*.png`): segmentation: '
                  'cosine similarity of each pixel embedding with the '
                  'prompt (-1 blue to 1 red); detection: the best '
                  'classification score of each location for the prompt '
                  'over anchors and feature levels (0 to 1).', ''
                  ] + pictures
    lines += reproduce_lines(work_dir, data_root, models, probes)
    lines += ['', '## Time of each step', '', '| step | time |',
              '| --- | ---: |']
    lines += [f'| {k} | {_minutes(v)} |' for k, v in timings.items()]
    lines += ['', '## Where the files are', '',
              f'- checkpoints, configs, training logs: `{work_dir}/<run>/` '
              '(runs: ' + ', '.join(f'`{m["key"]}`' for m in models) + ')',
              f'- prediction PNGs of the test split: `{work_dir}/<run>/vis/`',
              f'- open-vocabulary numbers (every prompt and vocabulary '
              f'scored), heat-maps: `{work_dir}/open_vocab/`',
              f'- the data: `{data_root}/` (sources and licences: '
              '`docs/demo_data.md`)', '']
    return '\n'.join(lines)


def reproduce_lines(work_dir: str, data_root: str, models: Sequence[dict],
                    probes: dict) -> List[str]:
    """The commands behind the open-vocabulary numbers."""
    lines = ['', '## The commands behind these numbers', '', '```bash',
             '# every probe of every trained language-guided model',
             'python -m projects.demo.mmvlm_demo.open_vocabulary '
             f'--work-dir {work_dir} --data-root {data_root}',
             'python -m projects.demo.mmvlm_demo.report '
             f'--work-dir {work_dir} --data-root {data_root}']
    examples = {'trees': ('"tree. car=tree. bacterium=tree. canopy=tree"',
                          'each'),
                'brain': ('"left middle frontal gyrus. car=left middle '
                          'frontal gyrus"', 'replace')}
    for task, (prompts, mode) in examples.items():
        entry = next((m for m in models if m['task'] == task
                      and m['key'] in probes), None)
        if entry is None:
            continue
        run_dir = osp.join(work_dir, entry['key'])
        ckpt = osp.join(run_dir, 'last_checkpoint')
        if osp.isfile(ckpt):
            with open(ckpt) as f:
                ckpt = osp.join(run_dir, osp.basename(f.read().strip()))
        lines += [f'# one probe by hand ({_label(entry)}): the metric of '
                  'each prompt on its class',
                  f'MMVLM_DEMO_DATA={data_root} python tools/test.py \\',
                  f'    {entry["config"]} {ckpt} \\',
                  f'    --prompts {prompts} --prompt-mode {mode}']
    return lines + ['```']


def cost_lines(models: Sequence[dict], timings: dict) -> List[str]:
    """Train time of each LG model relative to the MiniLM one."""
    out = []
    for m in models:
        if m['kind'] in ('stock', 'scratch', 'lg-frozen'):
            continue
        ref = next((r for r in models if r['task'] == m['task']
                    and r['kind'] == 'lg-frozen'), None)
        t, t_ref = (timings.get('train_' + m['key']),
                    timings.get('train_' + ref['key']) if ref else None)
        if t and t_ref:
            task = dict(
                concepts='many concepts',
                trees='tree crowns',
                brain='brain regions')[m['task']]
            out.append(f'- {task}, {_label(m)}: training took '
                       f'{t / t_ref:.2f}x the time of {_label(ref)} ({t} s '
                       f'vs {t_ref} s, same iterations, wall-clock, two '
                       'trainings at a time).')
    return ['', '## Cost of the language model', ''] + out if out else []


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='Write the demo report.')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/demo')
    args = parser.parse_args(argv)
    text = build_report(args.work_dir, args.data_root)
    models = DEMO_MODELS + CONTROL_MODELS
    write_summary(
        args.work_dir,
        build_summary(
            args.work_dir, {
                m['key']: latest_test_metrics(
                    osp.join(args.work_dir, m['key']))
                for m in models
            }))
    out = osp.join(args.work_dir, 'report.md')
    with open(out, 'w') as f:
        f.write(text)
    print(text)
    # a failed probe is a failed demo, once the report says so
    return 1 if 'probes FAILED' in text else 0


if __name__ == '__main__':
    sys.exit(main())
