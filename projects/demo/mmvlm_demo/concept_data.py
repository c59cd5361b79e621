"""Prepare and check the many-concept data set of the demo.

``prepare_concepts`` downloads ``ruby-gemojione`` and
``fonts-noto-color-emoji`` with ``apt-get download`` (unpacked with
``dpkg-deb -x``, nothing installed), checks that the package's concepts
are the names fixed in :mod:`.concept_names`, and writes the scenes of
:mod:`.concept_scenes` into ``<data_root>/concepts``:

============================  ======  =====================================
split                         style   concepts (names asked)
============================  ======  =====================================
``train``                     EmojiOne seen (the seen names)
``val_held_out``              EmojiOne validation-held-out (those names)
``test_seen_<style>``         both    seen (the seen names)
``test_held_out_<style>``     both    test-held-out (those names)
``test_mixed_<style>``        both    2 seen + 2 test-held-out per scene
                                      (seen + test-held-out names)
============================  ======  =====================================

Backgrounds are crops of the demo's aerial tree tiles
(``<data_root>/trees/images``, prepared first). ``concepts.json`` beside
the splits records every concept's category and keywords.

Regenerate :mod:`.concept_names` (only when the rule changes)::

    python -m projects.demo.mmvlm_demo.concept_data --write-names
"""
import argparse
import glob
import importlib
import json
import os
import os.path as osp
import shutil
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image

from . import concept_names
from .concept_scenes import name_cycle, plan_layout, write_split
from .concepts import (GEMOJIONE_PACKAGE, GEMOJIONE_ROOT, NOTO_PACKAGE,
                       STYLES, read_concepts, render_all_art, split_concepts)
from .fetching import fetch_debian_package, stamp_matches, write_stamp

#: Side of a scene, in pixels.
SCENE_SIZE = 192
#: Range of an object's longest side, in pixels.
OBJECT_SIZES = (28, 80)
#: Scenes of the training split and objects per training scene.
TRAIN_SCENES = 2400
TRAIN_OBJECTS = (3, 6)
#: Objects per test scene; appearances of each name in the test splits.
TEST_OBJECTS = 4
SEEN_APPEARANCES = 1
HELD_OUT_APPEARANCES = 2
MIXED_SCENES = 60
#: Changing any of these rebuilds the data (the stamp records them).
OPTIONS = dict(
    version=1,
    scene_size=SCENE_SIZE,
    object_sizes=list(OBJECT_SIZES),
    train_scenes=TRAIN_SCENES,
    train_objects=list(TRAIN_OBJECTS),
    test_objects=TEST_OBJECTS,
    seen_appearances=SEEN_APPEARANCES,
    held_out_appearances=HELD_OUT_APPEARANCES,
    mixed_scenes=MIXED_SCENES)


def fetch_packages(cache_dir: str) -> Dict[str, str]:
    """Download and unpack the two packages.

    Args:
        cache_dir (str): Download cache.

    Returns:
        dict[str, str]: ``'gemojione'`` (the gem folder), ``'noto'`` (the
        unpacked font package) and each package name -> its unpacked
        tree (with its ``COPYRIGHT``).
    """
    unpacked = {
        p: fetch_debian_package(p, cache_dir)
        for p in (GEMOJIONE_PACKAGE, NOTO_PACKAGE)
    }
    gem = osp.join(unpacked[GEMOJIONE_PACKAGE], GEMOJIONE_ROOT)
    if not osp.isfile(osp.join(gem, 'config', 'index.json')):
        raise RuntimeError(
            f'The {GEMOJIONE_PACKAGE} package has no {GEMOJIONE_ROOT}/'
            'config/index.json (another version?); this demo reads '
            'gemojione 3.3.0.')
    return dict(unpacked, gemojione=gem, noto=unpacked[NOTO_PACKAGE])


def check_names(split: Dict[str, Sequence[str]]) -> None:
    """Raise unless ``split`` is the split fixed in :mod:`.concept_names`.

    Args:
        split (dict[str, Sequence[str]]): From :func:`.split_concepts`.
    """
    fixed = dict(
        seen=concept_names.SEEN,
        val_held_out=concept_names.VAL_HELD_OUT,
        test_held_out=concept_names.TEST_HELD_OUT)
    for key, names in fixed.items():
        if tuple(split[key]) != tuple(names):
            diff = sorted(set(split[key]) ^ set(names))[:5]
            raise RuntimeError(
                f'The downloaded emoji index gives other {key} names than '
                f'concept_names.py (e.g. {diff}): the package changed. The '
                'names are fixed before training; regenerate them only '
                'on purpose (python -m projects.demo.mmvlm_demo.concept_data '
                '--write-names) and retrain every many-concept model.')


def load_backgrounds(data_root: str) -> List[np.ndarray]:
    """The aerial photos the scenes are built on.

    Args:
        data_root (str): The demo data root (``trees/images`` inside).

    Returns:
        list[np.ndarray]: ``[H, W, 3]`` uint8 RGB images.
    """
    paths = sorted(
        glob.glob(osp.join(data_root, 'trees', 'images', '*.png')) +
        glob.glob(osp.join(data_root, 'trees', 'images', '*.jpg')))
    if not paths:
        raise FileNotFoundError(
            f'No aerial tiles in {osp.join(data_root, "trees", "images")}: '
            'the many-concept scenes are built on them. Prepare the tree '
            'data first (python -m projects.demo.mmvlm_demo.prepare_data '
            '--only trees).')
    backgrounds = []
    for p in paths:
        with Image.open(p) as img:
            backgrounds.append(np.asarray(img.convert('RGB')))
    return backgrounds


def build_split_plans(
        seed: int = 0) -> Dict[str, List[List[str]]]:
    """Which names go into which scene, per split (style independent).

    Args:
        seed (int): Random seed.

    Returns:
        dict[str, list[list[str]]]: split (without style) -> names per
        scene.
    """
    rng = np.random.default_rng(seed)
    seen, val = concept_names.SEEN, concept_names.VAL_HELD_OUT
    test = concept_names.TEST_HELD_OUT

    def chunk(names: List[str], per: int) -> List[List[str]]:
        return [names[i:i + per] for i in range(0, len(names), per)]

    train_counts = rng.integers(TRAIN_OBJECTS[0], TRAIN_OBJECTS[1] + 1,
                                TRAIN_SCENES)
    pool = name_cycle(rng, seen, int(train_counts.sum()))
    bounds = np.concatenate([[0], np.cumsum(train_counts)])
    plans = dict(train=[
        pool[bounds[i]:bounds[i + 1]] for i in range(TRAIN_SCENES)
    ])
    plans['val_held_out'] = chunk(
        name_cycle(rng, val, HELD_OUT_APPEARANCES * len(val)), TEST_OBJECTS)
    plans['test_seen'] = chunk(
        name_cycle(rng, seen, SEEN_APPEARANCES * len(seen)), TEST_OBJECTS)
    plans['test_held_out'] = chunk(
        name_cycle(rng, test, HELD_OUT_APPEARANCES * len(test)),
        TEST_OBJECTS)
    half = TEST_OBJECTS // 2
    mixed_seen = name_cycle(rng, seen, half * MIXED_SCENES)
    mixed_test = name_cycle(rng, test, half * MIXED_SCENES)
    plans['test_mixed'] = [
        mixed_seen[i * half:(i + 1) * half] +
        mixed_test[i * half:(i + 1) * half] for i in range(MIXED_SCENES)
    ]
    return plans


def split_vocabulary(split: str) -> Sequence[str]:
    """The names asked in a split (its COCO categories, in order)."""
    base = split
    for style in STYLES:
        base = base.replace('_' + style, '')
    return dict(
        train=concept_names.SEEN,
        val_held_out=concept_names.VAL_HELD_OUT,
        test_seen=concept_names.SEEN,
        test_held_out=concept_names.TEST_HELD_OUT,
        test_mixed=concept_names.SEEN + concept_names.TEST_HELD_OUT)[base]


def split_names() -> List[str]:
    """Every split written, with its style suffix where it has one."""
    out = ['train', 'val_held_out']
    for base in ('test_seen', 'test_held_out', 'test_mixed'):
        out += [f'{base}_{style}' for style in STYLES]
    return out


def write_concept_scenes(out_dir: str, art: Dict[str, Dict[str, np.ndarray]],
                         backgrounds: Sequence[np.ndarray],
                         plans: Dict[str, List[List[str]]],
                         seed: int = 0) -> Dict[str, int]:
    """Render and write every split of a plan.

    Args:
        out_dir (str): The data set folder (created).
        art (dict): Style -> concept name -> RGBA artwork.
        backgrounds (Sequence[np.ndarray]): ``[H, W, 3]`` photos.
        plans (dict[str, list[list[str]]]): From
            :func:`build_split_plans` (split without style -> names per
            scene).
        seed (int): Seed of the layouts.

    Returns:
        dict[str, int]: Objects written per split.
    """
    os.makedirs(out_dir, exist_ok=True)
    label_of = {n: i + 1 for i, n in enumerate(concept_names.ALL)}
    rng = np.random.default_rng(seed + 1)
    counts = {}
    for base, plan in plans.items():
        layouts = [
            plan_layout(rng, names, backgrounds, SCENE_SIZE, OBJECT_SIZES)
            for names in plan
        ]
        styles = (['emojione'] if base in ('train', 'val_held_out') else
                  list(STYLES))
        for style in styles:
            split = base if len(styles) == 1 else f'{base}_{style}'
            counts[split] = write_split(out_dir, split, layouts, art[style],
                                        backgrounds, SCENE_SIZE,
                                        split_vocabulary(split), label_of)
    return counts


def prepare_concepts(data_root: str,
                     cache_dir: str,
                     force: bool = False,
                     seed: int = 0) -> str:
    """Build the many-concept data set (once; a stamp records the options).

    Args:
        data_root (str): The demo data root.
        cache_dir (str): Download cache.
        force (bool): Rebuild even when up to date.
        seed (int): Seed of the scene layouts.

    Returns:
        str: ``<data_root>/concepts``.
    """
    out_dir = osp.join(data_root, 'concepts')
    options = dict(OPTIONS, seed=seed)
    if not force and stamp_matches(out_dir, options):
        print(f'[prepare_demo_data] concepts: up to date in {out_dir}')
        return out_dir
    packages = fetch_packages(cache_dir)
    concepts = read_concepts(
        osp.join(packages['gemojione'], 'config', 'index.json'))
    check_names(split_concepts(concepts))
    art = render_all_art(concepts, packages['gemojione'], packages['noto'])
    missing = sorted(set(concept_names.ALL) - set(art['noto']))
    if missing:
        raise RuntimeError(
            f'The Noto font drew nothing for {len(missing)} concepts (e.g. '
            f'{missing[:3]}): this Pillow\'s FreeType cannot draw colour '
            'bitmap (CBDT) fonts; install Pillow from PyPI (its wheels '
            'bundle a FreeType that can) and run again.')
    backgrounds = load_backgrounds(data_root)
    if osp.isdir(out_dir):
        shutil.rmtree(out_dir)
    counts = write_concept_scenes(out_dir, art, backgrounds,
                                  build_split_plans(seed), seed)
    with open(osp.join(out_dir, 'concepts.json'), 'w') as f:
        json.dump([c._asdict() for c in concepts], f, indent=0)
    for package in (GEMOJIONE_PACKAGE, NOTO_PACKAGE):
        licence = osp.join(packages[package], 'COPYRIGHT')
        if osp.isfile(licence):
            shutil.copy(licence, osp.join(out_dir, f'COPYRIGHT.{package}'))
    write_stamp(out_dir, options)
    print(f'[prepare_demo_data] concepts: {len(concept_names.ALL)} concepts '
          f'({len(concept_names.SEEN)} seen); objects per split: {counts}')
    return out_dir


def check_concepts(out_dir: str) -> List[str]:
    """Problems of a prepared many-concept set (empty when fine).

    Checks that every split's json exists and reads, that its images
    exist, that no training scene holds a held-out concept, and that
    every test split asks exactly its names.

    Args:
        out_dir (str): ``<data_root>/concepts``.

    Returns:
        list[str]: One sentence per problem.
    """
    problems: List[str] = []
    seen = set(concept_names.SEEN)
    for split in split_names():
        path = osp.join(out_dir, 'annotations', split + '.json')
        try:
            with open(path) as f:
                coco = json.load(f)
        except (OSError, ValueError) as e:
            problems.append(f'{path}: {e}')
            continue
        names = [c['name'] for c in coco['categories']]
        if names != list(split_vocabulary(split)):
            problems.append(f'{path}: its categories are not the names of '
                            f'split {split}')
        if split == 'train' and not set(names) <= seen:
            problems.append(f'{path}: the training split names unseen '
                            'concepts')
        for img in coco['images']:
            if not osp.isfile(osp.join(out_dir, 'images', img['file_name'])):
                problems.append(f'{split}: image {img["file_name"]} is '
                                'missing')
                break
        if not coco['annotations']:
            problems.append(f'{path}: no annotations')
    return problems


#: The configs' copy of the names (configs cannot import the module).
TEXTS_CONFIG = 'projects/demo/configs/_base_/texts/concepts.py'


def texts_config_source() -> str:
    """The source of :data:`TEXTS_CONFIG`, from :mod:`.concept_names`."""

    def block(name: str, names: Sequence[str]) -> str:
        return f'{name} = (\n' + ''.join(f'    {n!r},\n'
                                          for n in names) + ')\n'

    return ('# The names of the many-concept world. GENERATED by\n'
            '#   python -m projects.demo.mmvlm_demo.concept_data '
            '--write-names\n'
            '# from projects/demo/mmvlm_demo/concept_names.py (the rule is '
            'there).\n'
            '# classes: the seen names, in label order; val_held_out: '
            'names for\n# choices; test_held_out: names only reported;\n'
            '# seg_classes: background + the seen names (segmentation);\n'
            '# value_names: the name of each label-map value (0: '
            'background).\n' +
            block('classes', concept_names.SEEN) +
            block('val_held_out', concept_names.VAL_HELD_OUT) +
            block('test_held_out', concept_names.TEST_HELD_OUT) +
            block('seg_classes', ('background', ) + concept_names.SEEN) +
            block('value_names', ('background', ) + concept_names.ALL))


def write_names_module(index_json: str, path: str) -> None:
    """Write :mod:`.concept_names` from the package index.

    Run :func:`texts_config_source` after re-importing it to refresh the
    configs' copy.

    Args:
        index_json (str): ``config/index.json`` of ``ruby-gemojione``.
        path (str): Output ``.py`` file.
    """
    split = split_concepts(read_concepts(index_json))

    def block(name: str, doc: str, names: Sequence[str]) -> str:
        lines = ''.join(f'    {n!r},\n' for n in names)
        return f'#: {doc}\n{name}: Names = (\n{lines})\n\n'

    with open(path, 'w') as f:
        f.write(
            '"""The names of the many-concept world, fixed before any '
            'training.\n\nGENERATED by ``python -m '
            'projects.demo.mmvlm_demo.concept_data --write-names`` from\n'
            'the EmojiOne index of ruby-gemojione 3.3.0 with '
            ':func:`.concepts.read_concepts` and\n'
            ':func:`.concepts.split_concepts` (seed 0): per category, '
            'names sorted and\nshuffled, the first 20 % test-held-out, '
            'the next 10 % validation-held-out,\nthe rest seen. Every '
            'choice (iterations, temperature, prefix, negatives) is\nmade '
            'on the validation names; the test names are only reported.\n'
            '"""\nfrom typing import Tuple\n\nNames = Tuple[str, ...]\n\n')
        f.write(block('SEEN', 'Names the models train on.', split['seen']))
        f.write(block('VAL_HELD_OUT', 'Held-out names for choices.',
                      split['val_held_out']))
        f.write(block('TEST_HELD_OUT', 'Held-out names, only reported.',
                      split['test_held_out']))
        f.write('#: Every name, sorted (the order of the label maps).\n'
                'ALL: Names = tuple(sorted(SEEN + VAL_HELD_OUT + '
                'TEST_HELD_OUT))\n')


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cache-dir', default='data/demo/.cache')
    parser.add_argument('--write-names', action='store_true',
                        help='regenerate concept_names.py from the package')
    args = parser.parse_args(argv)
    if args.write_names:
        gem = fetch_packages(args.cache_dir)['gemojione']
        write_names_module(
            osp.join(gem, 'config', 'index.json'),
            osp.join(osp.dirname(__file__), 'concept_names.py'))
        importlib.reload(concept_names)
        with open(TEXTS_CONFIG, 'w') as f:
            f.write(texts_config_source())
        return 0
    parser.print_help()
    return 0


if __name__ == '__main__':
    sys.exit(main())
