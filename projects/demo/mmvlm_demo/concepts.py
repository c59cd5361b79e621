"""The many-concept world of the demo: named artwork from Debian packages.

About 800 everyday concepts (animals, plants, food, vehicles, objects,
activities, people, places), each with an English name, keywords and a
real artwork in two drawing styles:

- ``ruby-gemojione`` 3.3.0: the EmojiOne 2.2 PNGs (64x64 RGBA,
  CC-BY-SA-4.0) and ``config/index.json`` (name, category, keywords);
- ``fonts-noto-color-emoji``: Google's Noto Color Emoji font (SIL OFL 1.1)
  for the same code points, rendered with Pillow.

This module reads the package index into :class:`Concept` records, keeps
the pictorial ones (:func:`read_concepts`), splits them into seen /
validation-held-out / test-held-out names (:func:`split_concepts`, whose
result for the packaged index is :mod:`.concept_names`) and renders
each concept's artwork (:func:`load_emojione_art`, :func:`render_noto_art`).
The scenes built from them are written by :mod:`.concept_scenes`.
"""
import json
import os.path as osp
import random
import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

GEMOJIONE_PACKAGE = 'ruby-gemojione'
NOTO_PACKAGE = 'fonts-noto-color-emoji'
GEMOJIONE_ROOT = 'usr/share/rubygems-integration/all/gems/gemojione-3.3.0'
NOTO_FONT = 'usr/share/fonts/truetype/noto/NotoColorEmoji.ttf'
#: The two drawing styles: training uses the first, tests use both.
STYLES = ('emojione', 'noto')

#: Categories of the index whose entries are pictures of things; symbols,
#: flags, keycaps and skin-tone modifiers are left out.
KEPT_CATEGORIES = ('activity', 'food', 'nature', 'objects', 'people',
                   'travel')
#: Skin-tone modifier code points: variants of another entry.
_SKIN_TONES = ('1F3FB', '1F3FC', '1F3FD', '1F3FE', '1F3FF')
#: Size of a concept's artwork after cropping to its visible pixels.
ART_SIZE = 64
#: The size Noto Color Emoji's bitmaps are drawn at (its only strike).
NOTO_STRIKE = 109


class Concept(NamedTuple):
    """One named concept of the index.

    Attributes:
        key (str): The index key, e.g. ``'turtle'``.
        name (str): The English name used as the class text.
        category (str): The index category, e.g. ``'nature'``.
        keywords (tuple[str]): The index keywords (paraphrases, related
            words), names of the concept excluded.
        code (str): Code points, e.g. ``'1F422'`` (``-`` separated).
        char (str): The emoji character sequence.
    """
    key: str
    name: str
    category: str
    keywords: Tuple[str, ...]
    code: str
    char: str


def _clean_name(name: str) -> str:
    """An index name as class text: lower case, single spaces."""
    return re.sub(r'\s+', ' ', name.strip().lower())


def read_concepts(index_json: str) -> List[Concept]:
    """Read the pictorial concepts of the EmojiOne index.

    Kept: entries of :data:`KEPT_CATEGORIES` that are not a skin-tone
    variant and whose name is not a list of people (``'family (man,
    woman, boy)'``). A name that occurs twice keeps its first entry.

    Args:
        index_json (str): ``config/index.json`` of ``ruby-gemojione``.

    Returns:
        list[Concept]: Sorted by name.
    """
    try:
        with open(index_json, encoding='utf-8') as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(
            f'Cannot read the emoji index {index_json}: {e}. Delete the '
            f'unpacked {GEMOJIONE_PACKAGE} folder and run the data step '
            'again.') from e
    concepts: Dict[str, Concept] = {}
    for key, entry in index.items():
        code = str(entry.get('unicode', '')).upper()
        name = _clean_name(str(entry.get('name', '')))
        if (entry.get('category') not in KEPT_CATEGORIES or not name
                or '(' in name or any(t in code for t in _SKIN_TONES)):
            continue
        if name in concepts:
            continue
        keywords = tuple(
            dict.fromkeys(
                _clean_name(k) for k in entry.get('keywords', ())
                if _clean_name(k) and _clean_name(k) != name))
        concepts[name] = Concept(key, name, entry['category'], keywords,
                                 code, str(entry.get('moji', '')))
    return [concepts[n] for n in sorted(concepts)]


def split_concepts(concepts: Sequence[Concept],
                   seed: int = 0,
                   val_fraction: float = 0.1,
                   test_fraction: float = 0.2) -> Dict[str, Tuple[str, ...]]:
    """Split concept names into seen / validation / test held-out names.

    Stratified by category: within each category (names sorted, then
    shuffled by ``random.Random(seed)``) the first ``round(test_fraction *
    n)`` names are test-held-out, the next ``round(val_fraction * n)``
    validation-held-out, the rest seen.

    Args:
        concepts (Sequence[Concept]): The concepts.
        seed (int): Shuffle seed.
        val_fraction (float): Share of validation-held-out names.
        test_fraction (float): Share of test-held-out names.

    Returns:
        dict[str, tuple[str]]: ``'seen'``, ``'val_held_out'``,
        ``'test_held_out'``: sorted names, disjoint.
    """
    if not 0 < val_fraction + test_fraction < 1:
        raise ValueError(f'val_fraction={val_fraction} and test_fraction='
                         f'{test_fraction} must add up to less than 1.')
    rng = random.Random(seed)
    parts: Dict[str, List[str]] = dict(
        seen=[], val_held_out=[], test_held_out=[])
    for category in sorted({c.category for c in concepts}):
        names = sorted(c.name for c in concepts if c.category == category)
        rng.shuffle(names)
        n_test = round(test_fraction * len(names))
        n_val = round(val_fraction * len(names))
        parts['test_held_out'] += names[:n_test]
        parts['val_held_out'] += names[n_test:n_test + n_val]
        parts['seen'] += names[n_test + n_val:]
    return {k: tuple(sorted(v)) for k, v in parts.items()}


# ------------------------------------------------------------------ art
def _crop_to_alpha(rgba: np.ndarray, size: int = ART_SIZE) -> np.ndarray:
    """Crop an RGBA image to its visible pixels and fit it in ``size``.

    Args:
        rgba (np.ndarray): ``[H, W, 4]`` uint8.
        size (int): Longest side of the result.

    Returns:
        np.ndarray: ``[h, w, 4]`` uint8 with ``max(h, w) == size``.
    """
    ys, xs = np.nonzero(rgba[..., 3] > 16)
    if len(ys) == 0:
        raise ValueError('the artwork has no visible pixel')
    crop = rgba[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape[:2]
    scale = size / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(
        Image.fromarray(crop, 'RGBA').resize(new, Image.LANCZOS))


def load_emojione_art(gemojione_root: str, concept: Concept) -> np.ndarray:
    """The EmojiOne artwork of a concept.

    Args:
        gemojione_root (str): The unpacked gem folder (holding
            ``assets/png``).
        concept (Concept): The concept.

    Returns:
        np.ndarray: ``[h, w, 4]`` uint8 RGBA, longest side
        :data:`ART_SIZE`.
    """
    path = osp.join(gemojione_root, 'assets', 'png', f'{concept.code}.png')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'No EmojiOne artwork for {concept.name!r}: {path} is missing. '
            f'Delete the unpacked {GEMOJIONE_PACKAGE} folder and run the '
            'data step again.')
    with Image.open(path) as img:
        return _crop_to_alpha(np.asarray(img.convert('RGBA')))


def render_noto_art(font: ImageFont.FreeTypeFont,
                    concept: Concept) -> Optional[np.ndarray]:
    """The Noto Color Emoji artwork of a concept, rendered with Pillow.

    Args:
        font (ImageFont.FreeTypeFont): ``NotoColorEmoji.ttf`` opened at
            :data:`NOTO_STRIKE`.
        concept (Concept): The concept.

    Returns:
        np.ndarray | None: ``[h, w, 4]`` uint8 RGBA, longest side
        :data:`ART_SIZE`; None when the font draws nothing for it.
    """
    canvas = Image.new('RGBA', (3 * NOTO_STRIKE, 2 * NOTO_STRIKE))
    ImageDraw.Draw(canvas).text((4, 4),
                                concept.char,
                                font=font,
                                embedded_color=True)
    try:
        return _crop_to_alpha(np.asarray(canvas))
    except ValueError:
        return None


def open_noto_font(noto_root: str) -> ImageFont.FreeTypeFont:
    """Open the Noto Color Emoji font of the unpacked package.

    Args:
        noto_root (str): The unpacked ``fonts-noto-color-emoji`` tree.

    Returns:
        ImageFont.FreeTypeFont: The font at its bitmap strike.
    """
    path = osp.join(noto_root, NOTO_FONT)
    try:
        return ImageFont.truetype(path, NOTO_STRIKE)
    except OSError as e:
        raise OSError(
            f'Cannot open the Noto Color Emoji font {path}: {e}. Pillow '
            'needs FreeType with colour bitmap (CBDT) support; delete the '
            f'unpacked {NOTO_PACKAGE} folder and run the data step '
            'again.') from e


def render_all_art(concepts: Sequence[Concept], gemojione_root: str,
                   noto_root: str) -> Dict[str, Dict[str, np.ndarray]]:
    """Both artworks of every concept.

    Args:
        concepts (Sequence[Concept]): The concepts.
        gemojione_root (str): The unpacked gem folder.
        noto_root (str): The unpacked font package.

    Returns:
        dict[str, dict[str, np.ndarray]]: style -> concept name -> RGBA
        artwork. A concept the font does not draw is missing from
        ``'noto'``.
    """
    font = open_noto_font(noto_root)
    art: Dict[str, Dict[str, np.ndarray]] = {s: {} for s in STYLES}
    for concept in concepts:
        art['emojione'][concept.name] = load_emojione_art(
            gemojione_root, concept)
        noto = render_noto_art(font, concept)
        if noto is not None:
            art['noto'][concept.name] = noto
    return art
