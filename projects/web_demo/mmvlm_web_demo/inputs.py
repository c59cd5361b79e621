"""What the page accepts: prompts typed into the box and uploaded images.

Every refusal is an :class:`InputError` whose message names the value and
the fix; the page shows it in place of a result (the server goes on).
"""
import io
import os
import os.path as osp
import re
from typing import List, Optional, Tuple

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

#: Most prompts one request scores (each is one LM forward when new).
MAX_PROMPTS = 100
#: Most characters of one prompt.
MAX_PROMPT_CHARS = 200
#: Longest image side the model sees; larger images are shrunk to it.
MAX_SIDE = 1333
#: Most pixels of an upload that is decoded at all (a 6000 x 4000 photo is
#: 24 MP: decoded, then shrunk to :data:`MAX_SIDE`).
MAX_PIXELS = 50_000_000
#: Largest upload in bytes.
MAX_FILE_BYTES = 60 * 1024 * 1024


class InputError(ValueError):
    """A prompt or an image the page cannot use; the message says why and
    what to do."""


def parse_prompts(text: Optional[str]) -> List[str]:
    """Split the prompt box into prompts.

    Prompts are separated by full stops (``a cat. a red car``), new lines
    or semicolons; an ideographic full stop (``。``) separates too.
    Surrounding spaces are dropped, repeats kept once (first wins).

    Args:
        text (str, optional): The box's content.

    Returns:
        list[str]: One to :data:`MAX_PROMPTS` prompts.

    Raises:
        InputError: No prompt, too many, or one too long.
    """
    parts = re.split(r'[.\n;\u3002]', text or '')
    prompts: List[str] = []
    for part in parts:
        part = ' '.join(part.split())
        if part and part not in prompts:
            prompts.append(part)
    if not prompts:
        raise InputError(
            'No prompt: type what to look for, e.g. "a cat. a red car" '
            '(prompts are separated by full stops).')
    if len(prompts) > MAX_PROMPTS:
        raise InputError(
            f'{len(prompts)} prompts given; the page scores at most '
            f'{MAX_PROMPTS} at once. Keep the ones you want to see, or '
            'run tools/misc/image_demo.py for a large vocabulary.')
    for prompt in prompts:
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InputError(
                f'The prompt "{prompt[:40]}..." has {len(prompt)} '
                f'characters; at most {MAX_PROMPT_CHARS}. Shorten it.')
    return prompts


def read_image(path: Optional[str]) -> Tuple[np.ndarray, Optional[str]]:
    """Read an uploaded or example image as BGR, shrunk to
    :data:`MAX_SIDE`.

    Args:
        path (str, optional): File the page received.

    Returns:
        tuple[np.ndarray, str | None]: ``[H, W, 3]`` uint8 BGR image and a
        note when it was shrunk (else None).

    Raises:
        InputError: No file, not an image, or too large.
    """
    if not path:
        raise InputError('No image: upload one (PNG, JPEG, ...) or pick an '
                         'example scene.')
    name = osp.basename(path)
    if not osp.isfile(path):
        raise InputError(f'The image {name!r} is gone from the server; '
                         'upload it again.')
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise InputError(
            f'{name!r} is {size / 2**20:.0f} MiB; the page takes images of '
            f'at most {MAX_FILE_BYTES // 2**20} MiB. Save it smaller.')
    data = np.fromfile(path, np.uint8)
    header = _image_size(data)
    if header is None:
        raise InputError(
            f'{name!r} is not an image the page can read (PNG, JPEG, BMP, '
            'TIFF, WebP); upload a picture file.')
    width, height = header
    if width * height > MAX_PIXELS:
        raise InputError(
            f'{name!r} is {width} x {height} pixels; the page decodes at '
            f'most {MAX_PIXELS / 1e6:.0f} megapixels. Shrink it first.')
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f'{name!r} could not be decoded as an image; '
                         'upload a PNG or JPEG file.')
    note = None
    height, width = image.shape[:2]
    if max(height, width) > MAX_SIDE:
        scale = MAX_SIDE / max(height, width)
        new_size = (max(1, round(width * scale)),
                    max(1, round(height * scale)))
        image = cv2.resize(image, new_size, interpolation=cv2.INTER_AREA)
        note = (f'{name!r} is {width} x {height} pixels; it was shrunk to '
                f'{new_size[0]} x {new_size[1]} (longest side {MAX_SIDE}).')
    return image, note


def _image_size(data: np.ndarray) -> Optional[Tuple[int, int]]:
    """``(width, height)`` from an image file's header without decoding its
    pixels (None when it is no image format PIL knows)."""
    try:
        with Image.open(io.BytesIO(data.tobytes())) as img:
            return img.size
    except (UnidentifiedImageError, OSError, ValueError,
            Image.DecompressionBombError):
        return None
