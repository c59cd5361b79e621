"""NIfTI volumes to an mmseg 2-D dataset: image volume(s), a label volume
and a names table become slices (PNG images and label maps) with train /
test splits of slice blocks that do not touch.

What a medical user holds is an image volume (a T1 MRI, a CT) and a label
volume (an atlas, a manual segmentation), often on different grids, aligned
only through their affines (voxel index -> scanner millimetres). The
conversion:

1. reads the volumes with nibabel (an optional dependency, the field's
   reader) and reorients the image to the closest canonical (RAS+) axes,
   so ``axial`` / ``coronal`` / ``sagittal`` mean what they say whatever
   the file's storage order;
2. resamples the label volume onto the image grid through the two affines
   (nearest neighbour: labels are never blended); voxels outside the label
   volume become 255 (ignored), and grids whose fields of view barely
   overlap are an error naming both affines;
3. maps label values to classes in the order of the names table (value 0
   is the background, class 0) and windows the intensities to 0-255;
4. cuts slices along the chosen axis (default: the slices with a labelled
   voxel), test blocks spread over them with ``gap`` slices dropped on
   each side (so no test slice neighbours a training slice), and writes
   held-out names as 255 in the training label maps (the test label maps
   keep them).

The output is ``img_dir/{train,test}``, ``ann_dir/{train,test}``, a prompts
file (``prompts.yaml``, one entry per class, label order) and
``meta.json`` (sources, affines, orientation, window, slices, splits),
which ``tools/misc/new_project.py seg`` takes directly.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmvlm.structures.prompts_file import write_prompts_file

AXES = ('axial', 'coronal', 'sagittal')
#: the RAS+ array axis each slicing axis cuts along
AXIS_INDEX = dict(sagittal=0, coronal=1, axial=2)
#: how a slice is laid out in the PNGs (rows, columns), RAS+ volumes
SLICE_LAYOUT = dict(
    axial='rows anterior to posterior, columns subject left to right '
    '(neurological view, seen from above)',
    coronal='rows superior to inferior, columns subject left to right '
    '(neurological view, seen from the front)',
    sagittal='rows superior to inferior, columns posterior to anterior')
IGNORE_INDEX = 255
#: label value of a resampled voxel outside the label volume
OUTSIDE = -1
#: fewer image voxels than this share inside the label volume: the grids
#: do not describe the same anatomy (wrong file, wrong affine)
MIN_OVERLAP = 0.5
BACKGROUND = 'background'


class VolumeGridError(ValueError):
    """The image and label volumes cannot be put on one grid."""


@dataclass
class VolumeDataset:
    """What :func:`volumes_to_mmseg` wrote.

    Attributes:
        out_dir (str): The dataset root.
        classes (list[str]): Class names, label order (0: background).
        train_slices (list[int]): Slice indices of the training split.
        test_slices (list[int]): Slice indices of the test split.
        held_out (list[str]): Names ignored (255) in the training maps.
        meta (dict): The content of ``meta.json``.
        warnings (list[str]): What the user should know (values mapped
            to ignore, empty slices).
    """
    out_dir: str
    classes: List[str]
    train_slices: List[int]
    test_slices: List[int]
    held_out: List[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)

    def new_project_command(self, name: Optional[str] = None) -> str:
        """The ``tools/misc/new_project.py`` command for this dataset."""
        root = self.out_dir
        name = name or osp.basename(root.rstrip(os.sep))
        held = ''
        if self.held_out:
            held = ' --held-out ' + ' '.join(
                _quote(h) for h in self.held_out)
        return (f'python tools/misc/new_project.py seg '
                f'--img-dir {root}/img_dir/train '
                f'--ann-dir {root}/ann_dir/train '
                f'--val-img-dir {root}/img_dir/test '
                f'--val-ann-dir {root}/ann_dir/test '
                f'--prompts {root}/prompts.yaml '
                f'--out-dir configs/{name}{held}')


    def check_command(self) -> str:
        """The ``tools/analysis_tools/check_dataset.py`` command of the
        training split."""
        import shlex
        root = self.out_dir
        return (f'python tools/analysis_tools/check_dataset.py seg '
                f'--img-dir {root}/img_dir/train '
                f'--ann-dir {root}/ann_dir/train '
                f'--classes {shlex.quote(". ".join(self.classes))}')


def _quote(name: str) -> str:
    import shlex
    return shlex.quote(name)


def _nibabel():
    try:
        import nibabel
    except ImportError as e:
        raise ImportError(
            'Reading NIfTI volumes needs nibabel: pip install nibabel '
            '(pinned in requirements/constraints.txt).') from e
    return nibabel


# ------------------------------------------------------------ names table
def read_names_table(path: str) -> Dict[int, str]:
    """Label value -> name, from a table file.

    Accepted: ``.json`` (``{"1": "name"}`` or ``[[1, "name"], ...]``), or
    text with one ``<value> <name>`` per line (separated by spaces, a tab
    or a comma; ``#`` starts a comment; a name may hold spaces), as atlas
    label lists are.

    Args:
        path (str): The table.

    Returns:
        dict[int, str]: The names by label value, in file order.

    Raises:
        ValueError: A line without a value and a name, a value twice, a
            name twice, a negative value.
    """
    if path.lower().endswith('.json'):
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        pairs = data.items() if isinstance(data, dict) else data
        rows = [(str(v), str(n), i + 1) for i, (v, n) in enumerate(pairs)]
    else:
        rows = []
        with open(path, encoding='utf-8') as f:
            for number, line in enumerate(f, 1):
                line = line.split('#', 1)[0].strip()
                if not line:
                    continue
                parts = line.replace('\t', ' ').replace(',', ' ', 1).split(
                    None, 1)
                if len(parts) != 2:
                    raise ValueError(
                        f'{path}:{number}: {line!r} is not "<value> <name>": '
                        'write one label value and its name per line.')
                rows.append((parts[0], parts[1].strip(), number))
    table: Dict[int, str] = {}
    for value, name, number in rows:
        try:
            key = int(value)
        except ValueError:
            raise ValueError(f'{path}:{number}: label value {value!r} is not '
                             'an integer.') from None
        if key < 0:
            raise ValueError(f'{path}:{number}: label value {key} is '
                             'negative; label volumes hold 0 and up.')
        if key in table:
            raise ValueError(f'{path}:{number}: label value {key} is named '
                             f'twice ({table[key]!r}, {name!r}).')
        if name in table.values():
            raise ValueError(f'{path}:{number}: name {name!r} is given to '
                             'two label values; give each class one value '
                             '(or merge them in the label volume).')
        table[key] = name
    if not table:
        raise ValueError(f'{path} names no label value.')
    return table


# ------------------------------------------------------------- resampling
def _load(path: str, canonical: bool):
    nib = _nibabel()
    image = nib.load(path)
    if canonical:
        image = nib.as_closest_canonical(image)
    data = np.asanyarray(image.dataobj)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f'{path}: a {data.ndim}-D volume of shape '
                         f'{data.shape}; give one 3-D volume per file.')
    return data, np.asarray(image.affine, dtype=np.float64)


def resample_labels(labels: np.ndarray, label_affine: np.ndarray,
                    shape: Sequence[int], affine: np.ndarray,
                    min_overlap: float = MIN_OVERLAP,
                    where: str = 'the label volume') -> np.ndarray:
    """A label volume on another grid, nearest neighbour through the
    affines.

    Args:
        labels (np.ndarray): ``[X, Y, Z]`` integer labels.
        label_affine (np.ndarray): Its ``4x4`` voxel-to-world affine.
        shape (Sequence[int]): The target grid's shape.
        affine (np.ndarray): The target grid's ``4x4`` affine.
        min_overlap (float): Least share of target voxels inside the
            label volume.
        where (str): Name of the label volume in errors.

    Returns:
        np.ndarray: ``shape`` labels (int64); ``OUTSIDE`` (-1) where the
        target voxel lies outside the label volume.

    Raises:
        VolumeGridError: A singular affine, or less than ``min_overlap``
            of the target inside the label volume.
    """
    for a, what in ((label_affine, where), (affine, 'the image')):
        if abs(np.linalg.det(a[:3, :3])) < 1e-12:
            raise VolumeGridError(f'The affine of {what} is singular:\n{a}\n'
                                  'fix the file header (qform / sform).')
    if tuple(shape) == labels.shape and np.allclose(
            affine, label_affine, atol=1e-4):
        return labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f'{where} holds negative label values: label '
                         'volumes hold 0 and up.')
    to_label = np.linalg.inv(label_affine) @ affine
    out = np.full(tuple(shape), OUTSIDE, np.int64)
    ii, jj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]),
                         indexing='ij')
    inside = 0
    for k in range(shape[2]):
        grid = np.stack([ii, jj, np.full_like(ii, k), np.ones_like(ii)])
        ijk = np.tensordot(to_label, grid.reshape(4, -1), axes=1)[:3]
        idx = np.rint(ijk).astype(np.int64)
        ok = np.all((idx >= 0) & (idx < np.array(labels.shape)[:, None]),
                    axis=0)
        inside += int(ok.sum())
        plane = out[:, :, k].reshape(-1)
        plane[ok] = labels[idx[0, ok], idx[1, ok], idx[2, ok]]
        out[:, :, k] = plane.reshape(shape[0], shape[1])
    share = inside / float(np.prod(shape))
    if share < min_overlap:
        raise VolumeGridError(
            f'Only {share:.1%} of the image voxels lie inside {where} (at '
            f'least {min_overlap:.0%} expected): the two volumes do not '
            'cover the same anatomy through their affines.\nimage affine:\n'
            f'{np.array2string(affine, precision=3)}\nlabel affine:\n'
            f'{np.array2string(label_affine, precision=3)}\nCheck that the '
            'label volume belongs to this image and that both headers hold '
            'the scanner / template coordinates (register the label volume '
            'to the image first if they are in different spaces).')
    return out


def window_to_uint8(volume: np.ndarray,
                    window: Optional[Tuple[float, float]] = None
                    ) -> Tuple[np.ndarray, Tuple[float, float]]:
    """Intensities to 0-255 through a window.

    Args:
        volume (np.ndarray): The image volume.
        window (tuple[float, float], optional): ``(low, high)`` in the
            volume's units (e.g. Hounsfield units for CT); default: the
            0.5th and 99.5th percentiles of the non-zero voxels.

    Returns:
        tuple[np.ndarray, tuple]: The uint8 volume and the window used.
    """
    data = np.asarray(volume, dtype=np.float64)
    if window is None:
        values = data[data != 0]
        if values.size == 0:
            values = data.reshape(-1)
        low, high = np.percentile(values, [0.5, 99.5])
    else:
        low, high = (float(v) for v in window)
    if not high > low:
        raise ValueError(f'intensity window ({low}, {high}): give low < '
                         'high (e.g. --window 0 1000).')
    scaled = (np.clip(data, low, high) - low) / (high - low) * 255.0
    return np.rint(scaled).astype(np.uint8), (float(low), float(high))


# ----------------------------------------------------------------- splits
def split_slices(slices: Sequence[int], test_fraction: float = 0.2,
                 gap: int = 2,
                 num_blocks: int = 3) -> Tuple[List[int], List[int]]:
    """Test blocks spread over the slices (so that the test split sees the
    anatomy of the whole range), ``gap`` slices dropped on each side of
    every block: no test slice neighbours a training slice.

    Args:
        slices (Sequence[int]): The slices to split.
        test_fraction (float): Share of the slices in the test blocks.
        gap (int): Slices dropped on each side of a test block.
        num_blocks (int): Test blocks, centred at ``(2i + 1) / (2n)`` of
            the range (fewer when the test slices are fewer).

    Returns:
        tuple[list[int], list[int]]: Train and test slice indices; every
        train slice is more than ``gap`` slice positions from every test
        slice.

    Raises:
        ValueError: Too few slices for the test blocks, the gaps and a
            training set.
    """
    slices = sorted(int(s) for s in slices)
    if not 0 < test_fraction < 1:
        raise ValueError(f'test_fraction={test_fraction}: give a share in '
                         '(0, 1), e.g. 0.2.')
    n = len(slices)
    n_test = max(1, int(round(n * test_fraction)))
    blocks = max(1, min(int(num_blocks), n_test))
    if n < n_test + 2 * gap * blocks + 2:
        raise ValueError(
            f'{n} slices cannot hold {n_test} test slices in {blocks} '
            f'block(s) with {gap} gap slices on each side and a training '
            'set: choose more slices (--slices), a smaller --gap, '
            '--test-fraction or --test-blocks.')
    sizes = [n_test // blocks + (i < n_test % blocks) for i in range(blocks)]
    test: List[int] = []
    for i, size in enumerate(sizes):
        centre = (2 * i + 1) * n / (2 * blocks)
        start = min(max(0, int(round(centre - size / 2))), n - size)
        test += slices[start:start + size]
    test = sorted(set(test))
    train = [s for s in slices
             if all(abs(s - t) > gap for t in test)]
    if not train:
        raise ValueError(f'no training slice is left outside the test '
                         f'blocks and their gaps ({n} slices): lower --gap '
                         'or --test-fraction.')
    return train, test


# ------------------------------------------------------------- conversion
def _slice2d(volume: np.ndarray, axis: str, index: int) -> np.ndarray:
    """One slice of a RAS+ volume, laid out as :data:`SLICE_LAYOUT`."""
    plane = np.take(volume, index, axis=AXIS_INDEX[axis])
    # plane axes: axial (x, y), coronal (x, z), sagittal (y, z); rows go
    # from the high end of the second axis (anterior / superior) down
    return np.ascontiguousarray(plane.T[::-1])


def volumes_to_mmseg(images: Sequence[str],
                     labels: str,
                     names: str,
                     out_dir: str,
                     axis: str = 'axial',
                     slices: Optional[Tuple[int, int]] = None,
                     window: Optional[Tuple[float, float]] = None,
                     test_fraction: float = 0.2,
                     gap: int = 2,
                     test_blocks: int = 3,
                     held_out: Sequence[str] = (),
                     unlisted: str = 'error',
                     stem: Optional[str] = None) -> VolumeDataset:
    """Convert image volume(s), a label volume and a names table into an
    mmseg 2-D dataset (see the module docstring).

    Args:
        images (Sequence[str]): One to three image volumes on one grid
            (one is written grey, two or three as the channels of an RGB
            PNG, e.g. T1 / T2 / FLAIR).
        labels (str): The label volume (any grid covering the image).
        names (str): The names table (:func:`read_names_table`); value 0
            is class 0, ``'background'``, whatever the table calls it.
            ``prompts.yaml`` prompts each class with
            :func:`readable_prompt` of its name.
        out_dir (str): Dataset root (created).
        axis (str): ``'axial'``, ``'coronal'`` or ``'sagittal'``.
        slices (tuple[int, int], optional): First and last slice (inclusive)
            along ``axis`` on the canonical image grid; default: every
            slice with a labelled (non-background) voxel.
        window (tuple[float, float], optional): Intensity window; default:
            percentiles 0.5 / 99.5 of the non-zero voxels.
        test_fraction (float): Share of the slices in the test block.
        gap (int): Slices dropped on each side of a test block.
        test_blocks (int): Test blocks spread over the slices.
        held_out (Sequence[str]): Names written as 255 (ignored) in the
            training label maps; the test maps keep them.
        unlisted (str): Label values the table does not name: ``'error'``
            (default), ``'background'`` or ``'ignore'`` (255).
        stem (str, optional): File name stem of the slices; default: the
            first image's name.

    Returns:
        VolumeDataset: Classes, splits and the metadata written.

    Raises:
        VolumeGridError: The label volume does not cover the image.
        ValueError: Bad arguments (each names the value and the fix).
    """
    import cv2
    if axis not in AXES:
        raise ValueError(f'axis={axis!r}: choose one of {AXES}.')
    if unlisted not in ('error', 'background', 'ignore'):
        raise ValueError(f"unlisted={unlisted!r}: choose 'error', "
                         "'background' or 'ignore'.")
    images = [images] if isinstance(images, str) else list(images)
    if not 1 <= len(images) <= 3:
        raise ValueError(f'{len(images)} image volumes: give one to three '
                         '(grey, or the channels of an RGB slice).')
    table = read_names_table(names)
    # value 0 is the recipe's background, whatever the table calls it
    # ('Unclassified', 'Clear Label'): recorded in meta.json
    zero_name = table.pop(0, None)
    classes_by_value = {0: BACKGROUND, **table}
    values = list(classes_by_value)
    classes = [classes_by_value[v] for v in values]
    unknown = [h for h in held_out if h not in classes]
    if unknown:
        raise ValueError(f'held-out names {unknown} are not in the names '
                         f'table {classes}.')
    if classes[0] in held_out:
        raise ValueError(f'held-out name {classes[0]!r} is the background '
                         '(value 0): hold out other names.')

    volumes, affine = [], None
    for path in images:
        data, a = _load(path, canonical=True)
        if affine is not None and (data.shape != volumes[0].shape
                                   or not np.allclose(a, affine, atol=1e-4)):
            raise VolumeGridError(
                f'{path} is on another grid than {images[0]} (shape '
                f'{data.shape} vs {volumes[0].shape}, or another affine): '
                'image volumes written as channels of one slice must share '
                'a grid; resample them first.')
        volumes.append(data)
        affine = a
    shape = volumes[0].shape
    raw_labels, label_affine = _load(labels, canonical=False)
    if not np.issubdtype(raw_labels.dtype, np.integer):
        rounded = np.rint(raw_labels)
        if not np.allclose(rounded, raw_labels, atol=1e-3):
            raise ValueError(f'{labels} holds non-integer values: is it a '
                             'label volume (not a probability map)?')
        raw_labels = rounded
    label_values = resample_labels(raw_labels.astype(np.int64), label_affine,
                                   shape, affine, where=labels)

    # label values -> classes
    warnings = []
    present = set(np.unique(label_values).tolist()) - {OUTSIDE}
    extra = sorted(present - set(values))
    lut_default = {'background': 0, 'ignore': IGNORE_INDEX}.get(unlisted)
    if extra and unlisted == 'error':
        raise ValueError(
            f'label values {extra[:20]}{" ..." if len(extra) > 20 else ""} '
            f'of {labels} are not in the names table {names}: name them, or '
            "choose what they become with unlisted='background' / 'ignore' "
            '(--unlisted).')
    if extra:
        warnings.append(f'label values {extra[:20]} are not in the names '
                        f'table: written as {unlisted}.')
    class_map = np.full(label_values.shape, IGNORE_INDEX, np.uint8)
    for index, value in enumerate(values):
        class_map[label_values == value] = index
    for value in extra:
        class_map[label_values == value] = lut_default
    missing = [classes_by_value[v] for v in values[1:] if v not in present]
    if missing:
        warnings.append(f'names {missing} have no voxel in the label volume '
                        'on the image grid.')

    # slices and splits
    axis_index = AXIS_INDEX[axis]
    count = shape[axis_index]
    if slices is None:
        labelled = (class_map != 0) & (class_map != IGNORE_INDEX)
        other = tuple(a for a in range(3) if a != axis_index)
        chosen = np.flatnonzero(labelled.any(axis=other)).tolist()
        if not chosen:
            raise ValueError(f'no slice along {axis} holds a labelled voxel;'
                             ' check the label volume or give --slices.')
        chosen = list(range(chosen[0], chosen[-1] + 1))
    else:
        first, last = (int(v) for v in slices)
        if not 0 <= first <= last < count:
            raise ValueError(f'slices ({first}, {last}): the {axis} axis of '
                             f'the image has slices 0 to {count - 1}.')
        chosen = list(range(first, last + 1))
    train, test = split_slices(chosen, test_fraction, gap, test_blocks)

    # write
    grey, used_window = [], None
    for data in volumes:
        scaled, used_window = window_to_uint8(data, window)
        grey.append(scaled)
    held_ids = [classes.index(h) for h in held_out]
    stem = stem or _stem(images[0])
    for split, indices in (('train', train), ('test', test)):
        for sub in ('img_dir', 'ann_dir'):
            os.makedirs(osp.join(out_dir, sub, split), exist_ok=True)
        for k in indices:
            planes = [_slice2d(v, axis, k) for v in grey]
            if len(planes) == 1:  # grey
                planes = planes * 3
            elif len(planes) == 2:  # two channels, blue empty
                planes.append(np.zeros_like(planes[0]))
            bgr = np.stack(planes[::-1], axis=-1)
            label = _slice2d(class_map, axis, k)
            if split == 'train' and held_ids:
                label = label.copy()
                label[np.isin(label, held_ids)] = IGNORE_INDEX
            name = f'{stem}_{axis}{k:03d}.png'
            cv2.imwrite(osp.join(out_dir, 'img_dir', split, name), bgr)
            cv2.imwrite(osp.join(out_dir, 'ann_dir', split, name), label)
    write_prompts_file(osp.join(out_dir, 'prompts.yaml'), classes,
                       [readable_prompt(c) for c in classes])
    meta = dict(
        images=[osp.abspath(p) for p in images],
        labels=osp.abspath(labels),
        names_table=osp.abspath(names),
        classes=classes,
        label_values={c: v for c, v in zip(classes, values)},
        value_0_in_table=zero_name,
        unlisted_values=dict(values=extra, written_as=unlisted),
        orientation=dict(
            volume='closest canonical RAS+ of the image (x to the subject\'s'
            ' right, y anterior, z superior)',
            axis=axis, slice_layout=SLICE_LAYOUT[axis],
            image_affine=np.round(affine, 6).tolist(),
            label_affine=np.round(label_affine, 6).tolist(),
            label_resampling=('identity' if shape == raw_labels.shape and
                              np.allclose(affine, label_affine, atol=1e-4)
                              else 'nearest neighbour through the affines; '
                              '255 outside the label volume')),
        intensity_window=list(used_window),
        slices=dict(first=chosen[0], last=chosen[-1], count=count),
        splits=dict(train=train, test=test, gap=gap, test_blocks=test_blocks,
                    rule='test blocks spread over the slices, gap slices '
                    'dropped on each side of each'),
        held_out=list(held_out),
        ignore_index=IGNORE_INDEX,
        warnings=warnings)
    with open(osp.join(out_dir, 'meta.json'), 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=1)
        f.write('\n')
    return VolumeDataset(osp.abspath(out_dir), classes, train, test,
                         list(held_out), meta, warnings)


def readable_prompt(name: str) -> str:
    """What the language model reads for an atlas name: underscores to
    spaces and a trailing ``_L`` / ``_R`` (``Left_`` / ``Right_``) to a
    leading "left" / "right" (``'Corticospinal_tract_R'`` -> ``'right
    corticospinal tract'``); the class name itself stays as in the table.
    """
    words = name.replace('_', ' ').split()
    side = None
    if len(words) > 1 and words[-1] in ('L', 'R', 'l', 'r'):
        side = 'left' if words.pop().lower() == 'l' else 'right'
    elif len(words) > 1 and words[0].lower() in ('left', 'right'):
        side = words.pop(0).lower()
    text = ' '.join(words)
    if text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]  # keep acronyms (MCP, CA1)
    return f'{side} {text}' if side else text


def _stem(path: str) -> str:
    name = osp.basename(path)
    for ext in ('.nii.gz', '.nii', '.mgz', '.img', '.hdr'):
        if name.lower().endswith(ext):
            return name[:-len(ext)]
    return osp.splitext(name)[0]
