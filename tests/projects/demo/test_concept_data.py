"""The many-concept data step (projects/demo/mmvlm_demo/concept*.py).

The split is fixed and disjoint, no held-out concept is in any training
scene, scenes carry boxes / label maps that match their artwork, and the
chance baseline is a derangement asked through the same code path as the
real names. The Debian packages are not needed: the index and artwork are
synthetic, in the packages' formats.
"""
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from projects.demo.mmvlm_demo import concept_data, concept_eval
from projects.demo.mmvlm_demo import concept_names as names
from projects.demo.mmvlm_demo import concept_scenes, concepts

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def test_fixed_split_is_disjoint_and_complete():
    seen, val, test = (set(names.SEEN), set(names.VAL_HELD_OUT),
                       set(names.TEST_HELD_OUT))
    assert not seen & val and not seen & test and not val & test
    assert len(names.ALL) == len(seen | val | test) == 820
    assert list(names.ALL) == sorted(names.ALL)
    # about 20 % test-held-out, 10 % validation-held-out
    assert 0.18 < len(test) / len(names.ALL) < 0.22
    assert 0.08 < len(val) / len(names.ALL) < 0.12


def test_texts_config_is_the_names_module():
    with open(osp.join(ROOT, concept_data.TEXTS_CONFIG)) as f:
        assert f.read() == concept_data.texts_config_source(), (
            'run python -m projects.demo.mmvlm_demo.concept_data '
            '--write-names')


def _index(path):
    entries = {}
    for cat in concepts.KEPT_CATEGORIES + ('flags', 'symbols'):
        for i in range(10):
            entries[f'{cat}{i}'] = dict(
                unicode=f'1F{cat[:1].upper()}{i:02d}',
                name=f'{cat} thing {i}',
                category=cat,
                keywords=[f'{cat} thing {i}', 'word'],
                moji='x')
    entries['tone'] = dict(unicode='1F44D-1F3FB', name='thumbs up tone 1',
                           category='people', keywords=[], moji='x')
    entries['family'] = dict(unicode='1F46A', name='family (man,woman,boy)',
                             category='people', keywords=[], moji='x')
    with open(path, 'w') as f:
        json.dump(entries, f)
    return path


def test_read_concepts_keeps_pictures_only(tmp_path):
    found = concepts.read_concepts(_index(str(tmp_path / 'index.json')))
    assert len(found) == 60
    assert {c.category for c in found} == set(concepts.KEPT_CATEGORIES)
    assert all('(' not in c.name and 'tone' not in c.name for c in found)
    # the concept's own name is not one of its keywords
    assert all(c.name not in c.keywords for c in found)


def test_split_is_deterministic_stratified_and_disjoint(tmp_path):
    found = concepts.read_concepts(_index(str(tmp_path / 'index.json')))
    a = concepts.split_concepts(found)
    assert a == concepts.split_concepts(found)
    assert a != concepts.split_concepts(found, seed=1)
    assert len(a['test_held_out']) == 12 and len(a['val_held_out']) == 6
    for cat in concepts.KEPT_CATEGORIES:
        in_test = [n for n in a['test_held_out'] if n.startswith(cat)]
        assert len(in_test) == 2  # 20 % of each category
    parts = [set(v) for v in a.values()]
    assert sum(len(p) for p in parts) == len(set().union(*parts)) == 60
    with pytest.raises(ValueError, match='less than 1'):
        concepts.split_concepts(found, val_fraction=0.5, test_fraction=0.5)


def test_check_names_refuses_another_split():
    fixed = dict(seen=names.SEEN, val_held_out=names.VAL_HELD_OUT,
                 test_held_out=names.TEST_HELD_OUT)
    concept_data.check_names(fixed)
    moved = dict(fixed, seen=names.SEEN[1:])
    with pytest.raises(RuntimeError, match='package changed'):
        concept_data.check_names(moved)


def test_plans_keep_held_out_concepts_out_of_training():
    plans = concept_data.build_split_plans(0)
    assert plans == concept_data.build_split_plans(0)
    seen, test = set(names.SEEN), set(names.TEST_HELD_OUT)
    train = {n for scene in plans['train'] for n in scene}
    assert train == seen  # every seen name is trained on, nothing else
    assert len(plans['train']) == concept_data.TRAIN_SCENES
    assert {n for s in plans['test_held_out'] for n in s} == test
    assert {n for s in plans['val_held_out'] for n in s} == set(
        names.VAL_HELD_OUT)
    for scene in plans['test_mixed']:
        assert len(set(scene) & seen) == 2 and len(set(scene) & test) == 2


def _art(color):
    rgba = np.zeros((64, 48, 4), np.uint8)
    rgba[8:56, 4:44] = color + (255, )
    return rgba


def synthetic_art():
    """A flat-coloured 'artwork' per concept, one colour per style."""
    rng = np.random.RandomState(0)
    art = {}
    for style in concepts.STYLES:
        art[style] = {
            n: _art(tuple(int(v) for v in rng.randint(0, 255, 3)))
            for n in names.ALL
        }
    return art


def small_plans():
    """Few scenes per split, in the shape of build_split_plans."""
    seen, val, test = names.SEEN, names.VAL_HELD_OUT, names.TEST_HELD_OUT
    return dict(
        train=[list(seen[i:i + 3]) for i in range(0, 24, 3)],
        val_held_out=[list(val[:3])],
        test_seen=[list(seen[:4]), list(seen[4:8])],
        test_held_out=[list(test[:4]), list(test[4:8])],
        test_mixed=[list(seen[:2]) + list(test[:2])])


def make_synthetic_concepts(root: str) -> str:
    """The many-concept data set in its real format, from synthetic art."""
    out = osp.join(root, 'concepts')
    backgrounds = [np.full((200, 220, 3), (60, 90, 50), np.uint8)]
    concept_data.write_concept_scenes(out, synthetic_art(), backgrounds,
                                      small_plans())
    return out


def test_written_splits_match_their_vocabulary(tmp_path):
    out = make_synthetic_concepts(str(tmp_path))
    assert concept_data.check_concepts(out) == []
    with open(osp.join(out, 'annotations', 'test_held_out_noto.json')) as f:
        coco = json.load(f)
    assert [c['name'] for c in coco['categories']] == list(
        names.TEST_HELD_OUT)
    assert len(coco['images']) == 2 and coco['annotations']
    ann = coco['annotations'][0]
    img = coco['images'][ann['image_id'] - 1]
    seg = np.asarray(
        Image.open(
            osp.join(out, 'seg_maps',
                     img['file_name'].replace('.jpg', '.png'))))
    assert seg.dtype == np.uint16 and seg.shape == (192, 192)
    name = coco['categories'][ann['category_id'] - 1]['name']
    x, y, w, h = ann['bbox']
    label = names.ALL.index(name) + 1
    inside = seg[y:y + h, x:x + w] == label
    # the box is the visible extent of the object's label-map pixels
    assert inside.sum() == ann['area'] == (seg == label).sum()
    assert inside[:, 0].any() and inside[0, :].any()
    # both styles share the layout: the same boxes
    with open(osp.join(out, 'annotations',
                       'test_held_out_emojione.json')) as f:
        other = json.load(f)
    assert [a['bbox'] for a in other['annotations']] == [
        a['bbox'] for a in coco['annotations']
    ]


def test_check_concepts_finds_a_held_out_name_in_training(tmp_path):
    out = make_synthetic_concepts(str(tmp_path))
    path = osp.join(out, 'annotations', 'train.json')
    with open(path) as f:
        coco = json.load(f)
    coco['categories'].append(
        dict(id=len(coco['categories']) + 1, name=names.TEST_HELD_OUT[0]))
    with open(path, 'w') as f:
        json.dump(coco, f)
    problems = concept_data.check_concepts(out)
    assert any('unseen' in p for p in problems)
    os.remove(osp.join(out, 'annotations', 'val_held_out.json'))
    assert any('val_held_out.json' in p
               for p in concept_data.check_concepts(out))


def test_scene_objects_overlap_at_most_a_third():
    rng = np.random.default_rng(0)
    layout = concept_scenes.plan_layout(
        rng, list(names.SEEN[:6]), [np.zeros((300, 300, 3), np.uint8)], 192,
        (28, 80))
    squares = layout.objects
    for i, (_, x, y, s) in enumerate(squares):
        assert 0 <= x <= 192 - s and 0 <= y <= 192 - s
        for _, px, py, ps in squares[:i]:
            assert concept_scenes._overlap(x, y, s, px, py, ps) <= \
                0.3 * ps * ps


def test_coco_json_refuses_a_name_outside_the_vocabulary():
    obj = concept_scenes.PastedObject('turtle', (0, 0, 5, 5), 25)
    with pytest.raises(ValueError, match='not in the vocabulary'):
        concept_scenes.coco_json(['dog'], [('a.jpg', [obj])], 192)


def test_chance_prompts_are_a_derangement():
    held = list(names.TEST_HELD_OUT)
    perm = concept_eval.derangement(held)
    assert sorted(perm) == sorted(held)
    assert all(p != h for p, h in zip(perm, held))
    assert perm == concept_eval.derangement(held)
    with pytest.raises(ValueError, match='two names'):
        concept_eval.derangement(['one'])


def test_chance_and_real_names_take_the_same_path(monkeypatch, tmp_path):
    """Held-out and chance rows come from one function on the same split,
    differing only in the prompt each class is asked with."""
    calls = []

    def fake(model, data_root, split, classes, prompts=None):
        calls.append((split, list(classes), prompts))
        return [dict(prompt=p, **{'class': c, 'AP50': 10.0})
                for p, c in zip(prompts or classes, classes)]

    monkeypatch.setattr(concept_eval, 'score_names', fake)
    monkeypatch.setattr(concept_eval, 'classes_with_boxes',
                        lambda root, split: {n: 1 for n in names.ALL})
    res = concept_eval.evaluate_language_guided(None, str(tmp_path),
                                                styles=['noto'])
    held, chance = calls[0], calls[1]
    assert held[0] == chance[0] == 'test_held_out_noto'
    assert held[1] == chance[1] == list(names.TEST_HELD_OUT)
    assert held[2] is None and chance[2] == concept_eval.derangement(
        list(names.TEST_HELD_OUT))
    assert res['noto']['held_out_ap50'] == 10.0
    assert set(res['noto']) >= {
        'seen_ap50', 'chance_ap50', 'generalised_held_out_ap50',
        'generalised_seen_ap50', 'held_out_per_name'
    }


def _write_result(work, key, styles, **extra):
    path = concept_eval.result_path(str(work), key)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(dict(styles=styles, **extra), f)


def test_summary_and_report_section_from_the_evaluations(tmp_path):
    from projects.demo.mmvlm_demo import concept_report
    held = list(names.TEST_HELD_OUT)
    lg = dict(
        seen_ap50=40.0, held_out_ap50=20.0, chance_ap50=1.0,
        generalised_held_out_ap50=5.0, generalised_seen_ap50=35.0,
        held_out_per_name={n: float(i % 30) for i, n in enumerate(held)})
    _write_result(tmp_path, 'concepts_lg',
                  dict(emojione=lg, noto=dict(lg, held_out_ap50=10.0)),
                  nearest_seen={held[29]: ['turtle', 0.8]})
    _write_result(tmp_path, 'concepts_stock',
                  dict(emojione=dict(seen_ap50=45.0)), stock=True)
    _write_result(tmp_path, 'det_lg', dict(emojione=dict(
        held_out_ap50=15.0, chance_ap50=1.0, held_out_per_name={})))
    metrics = {'det_lg': {'coco/bbox_mAP': 0.143, 'coco/bbox_mAP_50': 0.421}}
    summary = concept_report.build_summary(str(tmp_path), metrics)
    assert list(summary) == list(concept_report.SUMMARY_KEYS)
    assert summary['many_concepts_det_held_out_ap50'] == 20.0
    assert summary['many_concepts_det_noto_held_out_ap50'] == 10.0
    assert summary['many_concepts_det_stock_seen_ap50'] == 45.0
    assert summary['retention_frozen_pct'] == 75.0
    # not measured: null, never a made-up number
    assert summary['retention_finetuned_pct'] is None
    assert summary['many_concepts_det_random_lm_held_out_ap50'] is None
    assert summary['many_concepts_seg_held_out_miou'] is None
    assert summary['trees_lg_ap50'] == 42.1
    lines = '\n'.join(concept_report.concept_lines(str(tmp_path), summary))
    assert ('| LG-ATSS, frozen MiniLM | 40.0 | **20.0** | 1.0 | 20.0x |'
            in lines)
    assert 'held-out >= 10x chance: 20.0x (met)' in lines
    assert 'held-out >= 30 % of seen: 50 % (met)' in lines
    assert f'| {held[29]} | 29.0 | turtle (0.80) |' in lines
    assert 'not in this run (second' in lines
    path = concept_report.write_summary(str(tmp_path), summary)
    with open(path) as f:
        assert json.load(f) == summary


class _FakeSegmentor:
    """Stands for a language-guided segmentor: only its config's scope
    is read (the task)."""

    def __init__(self):
        from mmengine.config import Config
        self.cfg = Config(dict(default_scope='mmseg'))


def test_segmentors_take_the_same_path_with_background(monkeypatch,
                                                       tmp_path):
    """Segmentors: the same splits and chance derangement, IoU per name,
    ``background`` asked with every vocabulary and left out of the
    means; the report and summary read the segmentation keys."""
    from projects.demo.mmvlm_demo import concept_report
    asked = []

    def fake_evaluate(model, pairs, mode, cfg_options):
        asked.append((list(pairs), cfg_options))
        return [dict(prompt=p, **{'class': c, 'IoU': 50.0 if c ==
                                  'background' else 8.0})
                for p, c in pairs]

    import mmvlm.apis
    monkeypatch.setattr(mmvlm.apis, 'evaluate_prompts', fake_evaluate)
    monkeypatch.setattr(concept_eval, 'classes_with_boxes',
                        lambda root, split: {n: 1 for n in names.ALL})
    monkeypatch.setattr(concept_eval, 'split_options',
                        lambda root, split, classes, task: task)
    res = concept_eval.evaluate_language_guided(_FakeSegmentor(),
                                                str(tmp_path),
                                                styles=['emojione'])
    held = list(names.TEST_HELD_OUT)
    first, chance = asked[0], asked[1]
    assert first[0][0] == ('background', 'background')
    assert first[0][1:] == list(zip(held, held))
    assert [p for p, _ in chance[0][1:]] == concept_eval.derangement(held)
    assert first[1] == 'seg'
    out = res['emojione']
    assert out['held_out_miou'] == out['seen_miou'] == 8.0
    assert 'background' not in out['held_out_per_name']
    _write_result(tmp_path, 'concepts_seg_lg', res)
    summary = concept_report.build_summary(str(tmp_path), {})
    assert summary['many_concepts_seg_held_out_miou'] == 8.0
    assert summary['many_concepts_seg_stock_seen_miou'] is None
    lines = '\n'.join(concept_report.seg_lines(str(tmp_path), summary))
    assert '| LG-FPN, frozen MiniLM | 8.0 | **8.0** | 8.0 | 1.0x |' in lines


def test_segmentation_split_options_name_the_label_maps(tmp_path):
    os.makedirs(tmp_path / 'concepts' / 'annotations')
    (tmp_path / 'concepts' / 'annotations' / 'val_held_out.json').write_text(
        '{}')
    opts = concept_eval.split_options(str(tmp_path), 'val_held_out',
                                      ['ant', 'cat'], 'seg')
    ds = opts['test_dataloader']['dataset']
    assert ds['type'] == 'NamedLabelMapDataset'
    assert ds['metainfo']['classes'] == ('background', 'ant', 'cat')
    assert ds['data_prefix'] == dict(img_path='images/val_held_out',
                                     seg_map_path='seg_maps/val_held_out')
    assert opts['test_evaluator']['ignore_index'] == 65535
