"""The brain-region segmentation set of the demo (Debian ``mricron-data``).

The Colin27 T1 MRI ``ch2.nii.gz`` and the AAL atlas in the same space,
shipped in the Debian package ``mricron-data`` (BSD-3-Clause). The ``.deb``
is downloaded with ``apt-get download`` and unpacked with ``dpkg-deb -x``
(no root install). Axial slices become an mmseg data set (PNG images + label
PNGs) whose classes are readable region names ("left precentral gyrus").
Slices are split by interleaved slice ranges with a gap, so no test slice is
a neighbour of a training slice.
"""
import json
import os
import os.path as osp
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from . import vocabulary_splits
from .fetching import fetch_debian_package, stamp_matches, write_stamp

MRICRON_PACKAGE = 'mricron-data'
MRICRON_TEMPLATES = 'usr/share/mricron/templates'

#: AAL regions of the brain set, in class order after background.
BRAIN_REGIONS = ('Precentral_L', 'Precentral_R', 'Postcentral_L',
                 'Postcentral_R', 'Frontal_Mid_L', 'Frontal_Mid_R',
                 'Temporal_Mid_L', 'Temporal_Mid_R', 'Precuneus_L',
                 'Precuneus_R', 'Cerebelum_Crus1_L', 'Cerebelum_Crus1_R')
#: AAL regions never trained on (ignored in training label maps); they are
#: labelled only in ``ann_dir_heldout/test`` for the open-vocabulary demo.
BRAIN_HELDOUT = ('Hippocampus_L', 'Hippocampus_R')
BRAIN_BACKGROUND = 'background'
IGNORE_INDEX = 255

# Readable names of AAL base names (hemisphere suffix removed).
_AAL_BASE_NAMES = {
    'Precentral': 'precentral gyrus',
    'Postcentral': 'postcentral gyrus',
    'Frontal_Sup': 'superior frontal gyrus',
    'Frontal_Sup_Orb': 'superior frontal gyrus, orbital part',
    'Frontal_Mid': 'middle frontal gyrus',
    'Frontal_Mid_Orb': 'middle frontal gyrus, orbital part',
    'Frontal_Inf_Oper': 'inferior frontal gyrus, opercular part',
    'Frontal_Inf_Tri': 'inferior frontal gyrus, triangular part',
    'Frontal_Inf_Orb': 'inferior frontal gyrus, orbital part',
    'Frontal_Sup_Medial': 'medial superior frontal gyrus',
    'Frontal_Med_Orb': 'medial orbitofrontal gyrus',
    'Rolandic_Oper': 'rolandic operculum',
    'Supp_Motor_Area': 'supplementary motor area',
    'Olfactory': 'olfactory cortex',
    'Rectus': 'gyrus rectus',
    'Insula': 'insula',
    'Cingulum_Ant': 'anterior cingulate gyrus',
    'Cingulum_Mid': 'middle cingulate gyrus',
    'Cingulum_Post': 'posterior cingulate gyrus',
    'Hippocampus': 'hippocampus',
    'ParaHippocampal': 'parahippocampal gyrus',
    'Amygdala': 'amygdala',
    'Calcarine': 'calcarine cortex',
    'Cuneus': 'cuneus',
    'Lingual': 'lingual gyrus',
    'Occipital_Sup': 'superior occipital gyrus',
    'Occipital_Mid': 'middle occipital gyrus',
    'Occipital_Inf': 'inferior occipital gyrus',
    'Fusiform': 'fusiform gyrus',
    'Parietal_Sup': 'superior parietal lobule',
    'Parietal_Inf': 'inferior parietal lobule',
    'SupraMarginal': 'supramarginal gyrus',
    'Angular': 'angular gyrus',
    'Precuneus': 'precuneus',
    'Paracentral_Lobule': 'paracentral lobule',
    'Caudate': 'caudate nucleus',
    'Putamen': 'putamen',
    'Pallidum': 'pallidum',
    'Thalamus': 'thalamus',
    'Heschl': 'Heschl gyrus',
    'Temporal_Sup': 'superior temporal gyrus',
    'Temporal_Pole_Sup': 'superior temporal pole',
    'Temporal_Mid': 'middle temporal gyrus',
    'Temporal_Pole_Mid': 'middle temporal pole',
    'Temporal_Inf': 'inferior temporal gyrus',
}
_ROMAN = {
    '1': 'I', '2': 'II', '3': 'III', '4': 'IV', '5': 'V', '6': 'VI',
    '7': 'VII', '7b': 'VIIb', '8': 'VIII', '9': 'IX', '10': 'X'
}


# --------------------------------------------------------------- names
def aal_readable_name(aal_name: str) -> str:
    """Turn an AAL label name into an English prompt.

    Args:
        aal_name (str): AAL name, e.g. ``'Frontal_Mid_L'``,
            ``'Cerebelum_Crus1_R'`` or ``'Vermis_4_5'``.

    Returns:
        str: e.g. ``'left middle frontal gyrus'``, ``'right cerebellum
        crus I'``, ``'vermis lobules IV-V'``.
    """
    if not aal_name or not isinstance(aal_name, str):
        raise ValueError(f'Expected a non-empty AAL region name, got '
                         f'{aal_name!r}.')
    parts = aal_name.split('_')
    side = ''
    if parts[-1] in ('L', 'R'):
        side = 'left ' if parts[-1] == 'L' else 'right '
        parts = parts[:-1]
    base = '_'.join(parts)
    if base in _AAL_BASE_NAMES:
        return side + _AAL_BASE_NAMES[base]
    if parts[0] in ('Cerebelum', 'Vermis'):
        organ = 'cerebellum' if parts[0] == 'Cerebelum' else 'vermis'
        rest = parts[1:]
        if len(rest) == 1 and rest[0].startswith('Crus'):
            return f'{side}{organ} crus {_ROMAN.get(rest[0][4:], rest[0][4:])}'
        lobules = '-'.join(_ROMAN.get(p, p) for p in rest)
        word = 'lobules' if len(rest) > 1 else 'lobule'
        return f'{side}{organ} {word} {lobules}'.strip()
    return side + ' '.join(p.lower() for p in parts)


def read_aal_names(txt_path: str) -> Dict[int, str]:
    """Read the AAL label table (``aal.nii.txt``: ``index name code``).

    Args:
        txt_path (str): Path of the table.

    Returns:
        dict[int, str]: Label value in the atlas volume -> AAL name.
    """
    names = {}
    with open(txt_path, encoding='utf-8') as f:
        for line_no, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2 or not fields[0].isdigit():
                raise ValueError(f'{txt_path}:{line_no}: expected "<index> '
                                 f'<name> [code]", got {line.strip()!r}.')
            names[int(fields[0])] = fields[1]
    return names


# --------------------------------------------------------------- fetching
def fetch_mricron_templates(cache_dir: str) -> str:
    """Download the ``mricron-data`` .deb and unpack it without installing.

    Args:
        cache_dir (str): Folder for the .deb and the unpacked tree.

    Returns:
        str: The unpacked ``usr/share/mricron/templates`` folder.
    """
    root = fetch_debian_package(MRICRON_PACKAGE, cache_dir)
    templates = osp.join(root, MRICRON_TEMPLATES)
    if not osp.isdir(templates):
        raise RuntimeError(
            f'The {MRICRON_PACKAGE} package unpacked in {root} has no '
            f'{MRICRON_TEMPLATES} folder; delete {root} and run again.')
    return templates


def split_label_names(regions: Sequence[str],
                      heldout: Sequence[str],
                      seen: Optional[Sequence[str]] = None
                      ) -> Tuple[tuple, tuple]:
    """Class names of ``ann_dir_all`` and ``ann_dir_seen``.

    Args:
        regions (Sequence[str]): AAL names of the trained regions of
            ``ann_dir``.
        heldout (Sequence[str]): AAL names held out of ``ann_dir``.
        seen (Sequence[str], optional): Readable names of ``ann_dir_seen``
            in label order, background first. Default:
            ``vocabulary_splits.SEEN['brain']``.

    Returns:
        tuple[tuple, tuple]: All names (background, then the readable names
        of ``regions`` and ``heldout`` in that order: for the demo's regions
        ``vocabulary_splits.CLASSES['brain']``) and the seen names.
    """
    all_names = (BRAIN_BACKGROUND, ) + tuple(
        aal_readable_name(r) for r in (*regions, *heldout))
    seen = tuple(vocabulary_splits.SEEN['brain'] if seen is None else seen)
    unknown = [n for n in seen if n not in all_names]
    if unknown or not seen or seen[0] != BRAIN_BACKGROUND:
        raise ValueError(
            f'The seen names {list(seen)} must start with '
            f'{BRAIN_BACKGROUND!r} and name converted regions; not '
            f'converted: {unknown}. Converted: {list(all_names)}. Change '
            'vocabulary_splits.SEEN or pass seen=.')
    return all_names, seen


# --------------------------------------------------------------- slices
def brain_split_of_slices(num_slices: int, block: int, test: int,
                          gap: int) -> Dict[int, str]:
    """Assign slice indices to train / test by interleaved ranges.

    Each block of ``block`` slices is ``[train ...][gap][test][gap]``, so a
    test slice is at least ``gap + 1`` slices away from any training slice.

    Args:
        num_slices (int): Number of slices.
        block (int): Slices per block.
        test (int): Test slices per block.
        gap (int): Slices dropped on each side of the test range.

    Returns:
        dict[int, str]: Slice index -> 'train' or 'test' (gap slices absent).
    """
    n_train = block - test - 2 * gap
    if test < 1 or gap < 1 or n_train < 1:
        raise ValueError(f'Need test >= 1, gap >= 1 and block ({block}) > '
                         f'test ({test}) + 2 * gap ({gap}).')
    split = {}
    for z in range(num_slices):
        r = z % block
        if r < n_train:
            split[z] = 'train'
        elif n_train + gap <= r < n_train + gap + test:
            split[z] = 'test'
    return split


def _to_uint8(volume: np.ndarray) -> np.ndarray:
    vol = volume.astype(np.float32)
    lo, hi = np.percentile(vol, 0.5), np.percentile(vol, 99.5)
    if hi <= lo:
        raise ValueError('The MRI volume is constant; cannot scale it.')
    return ((vol - lo) / (hi - lo) * 255).clip(0, 255).astype(np.uint8)


def _axial(vol: np.ndarray, z: int) -> np.ndarray:
    # RAS volume [x, y, z] -> image rows = anterior at the top, columns =
    # patient left ... right (neurological view).
    return np.ascontiguousarray(vol[:, ::-1, z].T)


def convert_brain(mri_path: str,
                  atlas_path: str,
                  names_path: str,
                  out_dir: str,
                  regions: Sequence[str] = BRAIN_REGIONS,
                  heldout: Sequence[str] = BRAIN_HELDOUT,
                  seen: Optional[Sequence[str]] = None,
                  block: int = 20,
                  test: int = 3,
                  gap: int = 3,
                  min_labelled: int = 200) -> dict:
    """Slice a T1 volume and its label atlas into a 2D mmseg data set.

    Writes ``img_dir/{train,test}/*.png`` (8-bit grey), ``ann_dir/{train,
    test}/*.png`` (class index per pixel: 0 background, ``i + 1`` for
    ``regions[i]``; held-out regions are 255 = ignored) and
    ``ann_dir_heldout/test/*.png`` (held-out regions labelled after the
    trained ones), ``ann_dir_all/{train,test}`` (value ``i`` is
    ``vocabulary_splits.CLASSES['brain'][i]``: every region labelled),
    ``ann_dir_seen/{train,test}`` (value ``i`` is
    ``vocabulary_splits.SEEN['brain'][i]``, held-out regions 255 = ignored;
    what the demo configs train and test on) and ``meta.json`` with the
    class names.

    Args:
        mri_path (str): NIfTI T1 volume.
        atlas_path (str): NIfTI label volume in the same space.
        names_path (str): AAL table ``index name code``.
        out_dir (str): Output folder.
        regions (Sequence[str]): AAL names of the trained classes.
        heldout (Sequence[str]): AAL names held out of training.
        seen (Sequence[str], optional): Readable names of the
            ``ann_dir_seen`` classes, background first (default
            ``vocabulary_splits.SEEN['brain']``).
        block (int): Slices per split block, see
            :func:`brain_split_of_slices`.
        test (int): Test slices per block.
        gap (int): Slices dropped on each side of a test range.
        min_labelled (int): Skip slices with fewer labelled pixels.

    Returns:
        dict: The meta information written to ``meta.json``.
    """
    try:
        import nibabel as nib
    except ImportError as e:
        raise ImportError('Reading NIfTI needs nibabel: pip install nibabel '
                          '(it is in requirements/runtime.txt).') from e
    mri_img, atlas_img = nib.load(mri_path), nib.load(atlas_path)
    mri = np.asanyarray(mri_img.dataobj)
    atlas = np.asanyarray(atlas_img.dataobj).astype(np.int32)
    if mri.shape != atlas.shape or not np.allclose(mri_img.affine,
                                                   atlas_img.affine):
        raise ValueError(f'{mri_path} {mri.shape} and {atlas_path} '
                         f'{atlas.shape} are not in the same voxel space.')
    if nib.aff2axcodes(mri_img.affine) != ('R', 'A', 'S'):
        raise ValueError(f'{mri_path} is not RAS-oriented '
                         f'({nib.aff2axcodes(mri_img.affine)}); reorient it '
                         'first (nibabel.as_closest_canonical).')
    by_name = {v: k for k, v in read_aal_names(names_path).items()}
    unknown = [r for r in (*regions, *heldout) if r not in by_name]
    if unknown:
        raise ValueError(f'Regions {unknown} are not in {names_path}; '
                         f'choose among {sorted(by_name)}.')
    if set(regions) & set(heldout):
        raise ValueError(f'Regions both trained and held out: '
                         f'{sorted(set(regions) & set(heldout))}.')
    lut = np.zeros(max(by_name.values()) + 1, np.uint8)
    lut_heldout = np.zeros_like(lut)
    for i, r in enumerate(regions):
        lut[by_name[r]] = lut_heldout[by_name[r]] = i + 1
    for j, r in enumerate(heldout):
        lut[by_name[r]] = IGNORE_INDEX
        lut_heldout[by_name[r]] = len(regions) + 1 + j
    labels, labels_heldout = lut[atlas], lut_heldout[atlas]
    # every region labelled (CLASSES['brain'] order) and the seen-only
    # maps (SEEN['brain'] order, held-out regions ignored)
    all_names, seen_names = split_label_names(regions, heldout, seen)
    lut_all = np.zeros_like(lut)
    lut_seen = np.zeros_like(lut)
    for aal in (*regions, *heldout):
        name = aal_readable_name(aal)
        lut_all[by_name[aal]] = all_names.index(name)
        lut_seen[by_name[aal]] = (seen_names.index(name) if name
                                  in seen_names else IGNORE_INDEX)
    labels_all, labels_seen = lut_all[atlas], lut_seen[atlas]
    image = _to_uint8(mri)
    split_of = brain_split_of_slices(mri.shape[2], block, test, gap)
    for sub in ('img_dir', 'ann_dir', 'ann_dir_all', 'ann_dir_seen'):
        for split in ('train', 'test'):
            os.makedirs(osp.join(out_dir, sub, split), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'ann_dir_heldout', 'test'), exist_ok=True)
    counts = {'train': [], 'test': []}
    for z, split in sorted(split_of.items()):
        lab = _axial(labels, z)
        if np.count_nonzero((lab > 0) & (lab != IGNORE_INDEX)) < min_labelled:
            continue
        name = f'colin27_axial_z{z:03d}.png'
        Image.fromarray(_axial(image, z)).save(
            osp.join(out_dir, 'img_dir', split, name))
        Image.fromarray(lab).save(osp.join(out_dir, 'ann_dir', split, name))
        Image.fromarray(_axial(labels_all, z)).save(
            osp.join(out_dir, 'ann_dir_all', split, name))
        Image.fromarray(_axial(labels_seen, z)).save(
            osp.join(out_dir, 'ann_dir_seen', split, name))
        if split == 'test':
            Image.fromarray(_axial(labels_heldout, z)).save(
                osp.join(out_dir, 'ann_dir_heldout', 'test', name))
        counts[split].append(z)
    meta = dict(
        classes=[BRAIN_BACKGROUND] + [aal_readable_name(r) for r in regions],
        heldout_classes=[aal_readable_name(r) for r in heldout],
        all_classes=list(all_names),
        seen_classes=list(seen_names),
        heldout_names=[n for n in all_names if n not in seen_names],
        aal_names=list(regions),
        aal_heldout=list(heldout),
        ignore_index=IGNORE_INDEX,
        train_slices=counts['train'],
        test_slices=counts['test'],
        split=dict(block=block, test=test, gap=gap),
        source='Colin27 T1 (ch2.nii.gz) + AAL atlas, Debian mricron-data')
    with open(osp.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    return meta


def check_brain(out_dir: str) -> List[str]:
    """Check a converted brain set; return a list of problems (empty = ok).

    Args:
        out_dir (str): Folder written by :func:`convert_brain`.

    Returns:
        list[str]: Human-readable problems.
    """
    meta_path = osp.join(out_dir, 'meta.json')
    if not osp.isfile(meta_path):
        return [f'missing {meta_path}']
    with open(meta_path) as f:
        meta = json.load(f)
    problems = []
    train, test = meta['train_slices'], meta['test_slices']
    if not train or not test:
        problems.append(f'empty split: {len(train)} train / {len(test)} test')
    gap = meta['split']['gap']
    near = [(a, b) for a in test for b in train if abs(a - b) <= gap]
    if near:
        problems.append(f'test slices within {gap} of training slices: '
                        f'{near[:5]}')
    num_classes = len(meta['classes'])
    for split, zs in (('train', train), ('test', test)):
        for z in zs:
            name = f'colin27_axial_z{z:03d}.png'
            for sub in ('img_dir', 'ann_dir', 'ann_dir_all', 'ann_dir_seen'):
                if not osp.isfile(osp.join(out_dir, sub, split, name)):
                    problems.append(f'missing {sub}/{split}/{name}')
        if zs:
            lab = np.asarray(Image.open(
                osp.join(out_dir, 'ann_dir', split,
                         f'colin27_axial_z{zs[0]:03d}.png')))
            bad = set(np.unique(lab).tolist()) - set(range(num_classes)) - {
                IGNORE_INDEX}
            if bad:
                problems.append(f'label values {sorted(bad)} outside the '
                                f'{num_classes} classes')
    for sub, key in (('ann_dir_all', 'all_classes'),
                     ('ann_dir_seen', 'seen_classes')):
        names = tuple(meta.get(key, ()))
        expected = (vocabulary_splits.CLASSES['brain'] if key == 'all_classes'
                    else vocabulary_splits.SEEN['brain'])
        if meta.get('aal_names') != list(BRAIN_REGIONS):
            continue  # not the demo's regions (a custom conversion)
        if names != expected:
            problems.append(f'meta.json {key} {list(names)} differ from '
                            f'vocabulary_splits ({list(expected)}); rebuild '
                            'with prepare_data --force')
    return problems


def prepare_brain(data_root: str, cache_dir: str,
                  force: bool = False) -> str:
    """Fetch and convert the Colin27 / AAL segmentation set (idempotent).

    Args:
        data_root (str): Root of the demo data (``<root>/brain``).
        cache_dir (str): Download cache.
        force (bool): Rebuild even when the stamp matches.

    Returns:
        str: The data set folder.
    """
    out_dir = osp.join(data_root, 'brain')
    options = dict(version=2, source=MRICRON_PACKAGE,
                   regions=list(BRAIN_REGIONS), heldout=list(BRAIN_HELDOUT),
                   seen=list(vocabulary_splits.SEEN['brain']))
    if not force and stamp_matches(out_dir, options):
        print(f'[prepare_demo_data] brain: up to date in {out_dir}')
        return out_dir
    templates = fetch_mricron_templates(cache_dir)
    if osp.isdir(out_dir):
        shutil.rmtree(out_dir)
    meta = convert_brain(
        osp.join(templates, 'ch2.nii.gz'), osp.join(templates, 'aal.nii.gz'),
        osp.join(templates, 'aal.nii.txt'), out_dir)
    write_stamp(out_dir, options)
    print(f'[prepare_demo_data] brain: {len(meta["train_slices"])} train / '
          f'{len(meta["test_slices"])} test axial slices, '
          f'{len(meta["classes"])} classes -> {out_dir}')
    return out_dir
