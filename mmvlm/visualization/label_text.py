"""Readable labels: a font with the label's glyphs, labels placed without
overlap, a legend for what does not fit, small images enlarged.

Labels are drawn with Pillow and a TrueType font chosen per label: the
first of matplotlib's DejaVu Sans and the fonts installed on the system
(``fonts-wqy-microhei`` / ``fonts-noto-cjk`` for Chinese, Japanese and
Korean) that has a glyph for every character. When no installed font has
them, the label is drawn escaped (``细胞`` → ``\\u7ec6\\u80de``) with one
warning naming the package to install, never as empty boxes.
"""
import functools
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.logging import print_log
from PIL import Image, ImageDraw, ImageFont

Color = Tuple[int, int, int]
Box = Tuple[float, float, float, float]

#: Small images are enlarged (integer zoom) to at least this longer side.
MIN_DRAW_SIZE = 640
#: Label font size in pixels of the drawn (enlarged) image.
FONT_SIZE = 14
#: Font files tried before the system's other fonts (a CJK font first).
PREFERRED_FONTS = (
    '/usr/share/fonts/truetype/wqy/wqy-microhei.ttc',
    '/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc',
    '/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc',
)
#: What to install when a label's script has no font.
FONT_HINT = ('install a font with these glyphs, e.g. `apt-get install '
             'fonts-wqy-microhei` (Chinese / Japanese / Korean) or '
             'fonts-noto-core')

_WARNED_SCRIPTS: set = set()


def label_of(entry: Union[str, Sequence[str]]) -> str:
    """The text shown for a vocabulary entry (its first synonym).

    Args:
        entry (str | Sequence[str]): A prompt or a tuple of synonyms.

    Returns:
        str: The label text.
    """
    if isinstance(entry, str):
        return entry
    entry = [e for e in entry if e]
    return entry[0] if entry else ''


@functools.lru_cache(maxsize=None)
def _font_files() -> Tuple[str, ...]:
    """Candidate font files, Latin first, then CJK, then the system's."""
    from matplotlib import font_manager
    files = [font_manager.findfont('DejaVu Sans', fallback_to_default=True)]
    files += [f for f in PREFERRED_FONTS if _readable(f)]
    try:
        system = sorted(font_manager.findSystemFonts())
    except Exception:  # no fontconfig: the candidates above only
        system = []
    files += [
        f for f in system if f.lower().endswith(('.ttf', '.ttc', '.otf'))
    ]
    return tuple(dict.fromkeys(files))


def _readable(path: str) -> bool:
    try:
        with open(path, 'rb'):
            return True
    except OSError:
        return False


@functools.lru_cache(maxsize=64)
def _code_points(path: str) -> frozenset:
    """The characters a font file has glyphs for (empty if unreadable)."""
    try:
        from fontTools.ttLib import TTFont
        font = TTFont(path, fontNumber=0, lazy=True)
        return frozenset(font.getBestCmap() or {})
    except Exception:
        return frozenset()


def find_font(text: str) -> Optional[str]:
    """The first font file that has a glyph for every character of text.

    Args:
        text (str): The label.

    Returns:
        str | None: Path of the font file; None when no installed font has
        all the glyphs.
    """
    needed = {ord(c) for c in text if not c.isspace()}
    for path in _font_files():
        if needed <= _code_points(path):
            return path
    return None


@functools.lru_cache(maxsize=32)
def _load_font(path: Optional[str], size: int):
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size)


def font_for(text: str, size: int = FONT_SIZE) -> Tuple[object, str]:
    """A Pillow font that draws ``text``, and the text it will draw.

    Args:
        text (str): The label.
        size (int): Font size in pixels.

    Returns:
        tuple[FreeTypeFont, str]: The font and the text: ``text`` itself,
        or its escaped ASCII form (``\\u7ec6``) with one warning when no
        installed font has its glyphs.
    """
    path = find_font(text)
    if path is not None:
        return _load_font(path, size), text
    escaped = text.encode('ascii', 'backslashreplace').decode('ascii')
    missing = ''.join(sorted({c for c in text if ord(c) > 127}))[:20]
    if missing not in _WARNED_SCRIPTS:
        _WARNED_SCRIPTS.add(missing)
        print_log(
            f'No installed font has glyphs for {missing!r} (label '
            f'{text!r}); it is drawn escaped as {escaped!r}: {FONT_HINT}.',
            logger='current',
            level=30)
    return _load_font(find_font(escaped), size), escaped


def register_fallback_fonts() -> List[str]:
    """Let matplotlib-based visualizers draw non-Latin labels.

    mmengine's ``Visualizer.draw_texts`` (used by mmdet's / mmseg's
    visualizers and their hooks, e.g. ``tools/test.py --show-dir``) asks
    for the generic family ``'sans-serif'``, which matplotlib resolves to
    ONE font: DejaVu Sans, without CJK glyphs. This adds the installed CJK
    fonts of ``PREFERRED_FONTS`` (which also have Latin glyphs) to
    matplotlib's font manager and puts them first in
    ``rcParams['font.sans-serif']``: every sans-serif text of the process,
    Latin included, is then drawn with that font. Call it before drawing
    (it is a process-wide matplotlib setting, so mmvlm never calls it on
    import); it does nothing when no such font is installed.

    Returns:
        list[str]: The family names now first in ``font.sans-serif``.
    """
    from matplotlib import rcParams
    names = list(_cjk_families())
    if names:
        rest = [n for n in rcParams['font.sans-serif'] if n not in names]
        rcParams['font.sans-serif'] = names + rest
    return names


@functools.lru_cache(maxsize=None)
def _cjk_families() -> Tuple[str, ...]:
    """Family names of the installed ``PREFERRED_FONTS``, added to
    matplotlib's font manager (once)."""
    from matplotlib import font_manager
    names = []
    for path in PREFERRED_FONTS:
        if not _readable(path):
            continue
        try:
            font_manager.fontManager.addfont(path)
            names.append(font_manager.get_font(path).family_name)
        except Exception:  # noqa: BLE001 - a broken font file: skip it
            continue
    return tuple(dict.fromkeys(names))


def font_properties(texts: Sequence[str]) -> list:
    """matplotlib ``FontProperties`` per text, with the text's glyphs.

    For mmengine's ``Visualizer.draw_texts(..., font_properties=...)``,
    which otherwise draws non-Latin labels as empty boxes.

    Args:
        texts (Sequence[str]): The labels.

    Returns:
        list[FontProperties]: One per text (DejaVu Sans when no installed
        font has all its glyphs).
    """
    from matplotlib.font_manager import FontProperties
    found = []
    for text in texts:
        path = find_font(text) or _font_files()[0]
        found.append(FontProperties(fname=path))
    return found


def upscale_factor(height: int,
                   width: int,
                   min_size: int = MIN_DRAW_SIZE) -> int:
    """Integer zoom that brings the longer side to at least ``min_size``.

    Args:
        height (int): Image height.
        width (int): Image width.
        min_size (int): Wanted longer side; 0 disables enlarging.

    Returns:
        int: The zoom (1 for images that are large enough).
    """
    if min_size <= 0:
        return 1
    return max(1, math.ceil(min_size / max(height, width, 1)))


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge ``[H, W, ...]`` by an integer factor (nearest neighbour,
    so that masks and label maps stay exact)."""
    if factor == 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _text_size(draw: ImageDraw.ImageDraw, text: str, font) -> Tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return int(right - left) + 4, int(bottom - min(top, 0)) + 4


def place_labels(
    image: np.ndarray,
    labels: Sequence[Tuple[str, Box, Color]],
    font_size: int = FONT_SIZE,
    avoid: Sequence[Box] = ()
) -> Tuple[np.ndarray, List[int]]:
    """Draw labels next to their anchors, never on top of each other.

    Each label is tried above its anchor box's top-left corner, inside it
    under the top edge, below its bottom edge, and shifted right along the
    top edge; the first free spot inside the image is used. Labels are
    placed in the given order (put the most important first).

    Args:
        image (np.ndarray): ``[H, W, 3]`` uint8 RGB image.
        labels (Sequence): ``(text, (x1, y1, x2, y2) anchor, RGB colour)``
            per label; a point anchor has ``x1 == x2``, ``y1 == y2``.
        font_size (int): Font size in pixels.
        avoid (Sequence[Box]): Regions no label may cover.

    Returns:
        tuple[np.ndarray, list[int]]: The drawn ``[H, W, 3]`` image and the
        indices of the labels that found no free spot (for a legend).
    """
    canvas = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(canvas)
    height, width = image.shape[:2]
    taken: List[Box] = list(avoid)
    unplaced = []
    for index, (text, anchor, color) in enumerate(labels):
        font, shown = font_for(text, font_size)
        w, h = _text_size(draw, shown, font)
        x1, y1, x2, y2 = [float(v) for v in anchor]
        candidates = [(x1, y1 - h), (x1, y1), (x1, y2), (x1, y2 - h)]
        candidates += [(x1 + k * w, y1 - h) for k in (1, 2)]
        centred = (x1 - (w - (x2 - x1)) / 2, (y1 + y2 - h) / 2)
        if x1 == x2 and y1 == y2:  # a point: centred on it first
            candidates.insert(0, centred)
        else:
            candidates.append(centred)
        spot = None
        for cx, cy in candidates:
            cx = min(max(cx, 0.0), width - w)
            cy = min(max(cy, 0.0), height - h)
            box = (cx, cy, cx + w, cy + h)
            if cx >= 0 and cy >= 0 and not any(
                    _overlaps(box, t) for t in taken):
                spot = box
                break
        if spot is None:
            unplaced.append(index)
            continue
        taken.append(spot)
        draw.rectangle(spot, fill=tuple(int(c) for c in color))
        luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
        ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
        draw.text((spot[0] + 2, spot[1] + 1), shown, font=font, fill=ink)
    return np.asarray(canvas), unplaced


def draw_legend(image: np.ndarray,
                entries: Sequence[Tuple[str, Color]],
                font_size: int = FONT_SIZE,
                title: Optional[str] = None) -> np.ndarray:
    """Append a legend panel (colour swatch + text per entry) on the right.

    Args:
        image (np.ndarray): ``[H, W, 3]`` uint8 RGB image.
        entries (Sequence[tuple[str, Color]]): Text and colour per line.
        font_size (int): Font size in pixels.
        title (str, optional): First line of the panel.

    Returns:
        np.ndarray: ``[max(H, panel height), W + panel width, 3]`` uint8
        RGB image; the image unchanged when there are no entries.
    """
    if not entries:
        return image
    lines = ([(title, None)] if title else []) + list(entries)
    probe = ImageDraw.Draw(Image.new('RGB', (1, 1)))
    fonts = [font_for(text, font_size) for text, _ in lines]
    sizes = [_text_size(probe, shown, font) for font, shown in fonts]
    line_height = max(h for _, h in sizes) + 4
    swatch = line_height - 6
    panel_width = max(w for w, _ in sizes) + swatch + 20
    height = max(image.shape[0], line_height * len(lines) + 8)
    canvas = Image.new('RGB', (image.shape[1] + panel_width, height),
                       (255, 255, 255))
    canvas.paste(Image.fromarray(np.ascontiguousarray(image)), (0, 0))
    draw = ImageDraw.Draw(canvas)
    x0 = image.shape[1] + 6
    for row, ((_, color), (font, shown)) in enumerate(zip(lines, fonts)):
        y = 4 + row * line_height
        x = x0
        if color is not None:
            draw.rectangle((x, y + 3, x + swatch, y + 3 + swatch),
                           fill=tuple(int(c) for c in color),
                           outline=(0, 0, 0))
            x += swatch + 6
        draw.text((x, y + 2), shown, font=font, fill=(0, 0, 0))
    return np.asarray(canvas)


def draw_title(image: np.ndarray,
               title: str,
               font_size: int = FONT_SIZE + 2) -> np.ndarray:
    """Add a white strip with ``title`` above the image (never over it).

    Args:
        image (np.ndarray): ``[H, W, 3]`` uint8 RGB image.
        title (str): The text.
        font_size (int): Font size in pixels.

    Returns:
        np.ndarray: ``[H + strip, W, 3]`` uint8 RGB image.
    """
    font, shown = font_for(title, font_size)
    probe = ImageDraw.Draw(Image.new('RGB', (1, 1)))
    _, h = _text_size(probe, shown, font)
    strip = h + 6
    canvas = Image.new('RGB', (image.shape[1], image.shape[0] + strip),
                       (255, 255, 255))
    canvas.paste(Image.fromarray(np.ascontiguousarray(image)), (0, strip))
    ImageDraw.Draw(canvas).text((4, 3), shown, font=font, fill=(0, 0, 0))
    return np.asarray(canvas)


def text_pixels(text: str, font_size: int = FONT_SIZE) -> Dict[str, int]:
    """How ``text`` renders: glyph ink pixels and the text actually drawn.

    For tests and checks that a label's script is really drawn (a font
    without the glyphs draws the same empty box for every character).

    Args:
        text (str): The label.
        font_size (int): Font size in pixels.

    Returns:
        dict: ``ink`` (number of dark pixels), ``distinct`` (number of
        distinct glyph bitmaps among the characters) and ``shown`` (the
        text drawn, escaped when no font has its glyphs).
    """
    font, shown = font_for(text, font_size)
    bitmaps = set()
    ink = 0
    for char in shown:
        img = Image.new('L', (font_size * 2, font_size * 2), 255)
        ImageDraw.Draw(img).text((2, 2), char, font=font, fill=0)
        array = np.asarray(img) < 128
        ink += int(array.sum())
        bitmaps.add(array.tobytes())
    return dict(ink=ink, distinct=len(bitmaps), shown=shown)
