"""Convert raw Kvasir-SEG / ISIC-2018 downloads to the mmseg medical layout.

The output is ``OUT_DIR/images/{train,val}/*.png`` and
``OUT_DIR/masks/{train,val}/*.png`` with masks 0 (background) /
1 (foreground), the layout of ``KvasirSEGDataset`` and
``ISIC2018Task1Dataset``. The command line is
``tools/dataset_converters/prepare_medical_dataset.py``.
"""
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')


def _images(folder: Path) -> List[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f'{folder} does not exist; check RAW_DIR.')
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f'No images ({IMAGE_SUFFIXES}) in {folder}.')
    return files


def _write_pair(image: Path, mask: Path, out_root: Path, split: str,
                name: str) -> None:
    (out_root / 'images' / split).mkdir(parents=True, exist_ok=True)
    (out_root / 'masks' / split).mkdir(parents=True, exist_ok=True)
    Image.open(image).convert('RGB').save(out_root / 'images' / split /
                                          f'{name}.png')
    # JPEG masks carry compression noise around 0 / 255: threshold them.
    label = np.asarray(Image.open(mask).convert('L')) > 127
    Image.fromarray(label.astype(np.uint8)).save(out_root / 'masks' / split /
                                                 f'{name}.png')


def prepare_kvasir_seg(raw_root: str,
                       out_root: str,
                       val_ratio: float = 0.2) -> Dict[str, int]:
    """Convert ``Kvasir-SEG/{images,masks}/*.jpg`` to the mmseg layout.

    The split is deterministic: sorted file names, the last ``val_ratio``
    of them go to ``val``.

    Args:
        raw_root (str): The unzipped ``Kvasir-SEG`` folder.
        out_root (str): Output data root.
        val_ratio (float): Share of images for validation.

    Returns:
        dict[str, int]: Number of images per split.
    """
    if not 0.0 <= val_ratio < 1.0:
        raise ValueError(f'val_ratio must be in [0, 1), got {val_ratio}.')
    raw, out = Path(raw_root), Path(out_root)
    images = _images(raw / 'images')
    masks = {p.stem: p for p in _images(raw / 'masks')}
    missing = [p.name for p in images if p.stem not in masks]
    if missing:
        raise FileNotFoundError(f'No mask for {missing[:5]} in '
                                f'{raw / "masks"}.')
    num_val = int(round(len(images) * val_ratio))
    counts = {'train': 0, 'val': 0}
    for i, image in enumerate(images):
        split = 'val' if i >= len(images) - num_val else 'train'
        _write_pair(image, masks[image.stem], out, split, image.stem)
        counts[split] += 1
    return counts


ISIC_FOLDERS: Tuple[Tuple[str, str, str], ...] = (
    ('train', 'ISIC2018_Task1-2_Training_Input',
     'ISIC2018_Task1_Training_GroundTruth'),
    ('val', 'ISIC2018_Task1-2_Validation_Input',
     'ISIC2018_Task1_Validation_GroundTruth'),
)


def prepare_isic2018_task1(raw_root: str, out_root: str) -> Dict[str, int]:
    """Convert the ISIC-2018 task 1 download to the mmseg layout.

    Reads ``ISIC2018_Task1-2_{Training,Validation}_Input/ISIC_<id>.jpg`` and
    ``ISIC2018_Task1_{Training,Validation}_GroundTruth/
    ISIC_<id>_segmentation.png``; a missing validation pair is skipped.

    Args:
        raw_root (str): Folder holding the unzipped ISIC folders.
        out_root (str): Output data root.

    Returns:
        dict[str, int]: Number of images per split.
    """
    raw, out = Path(raw_root), Path(out_root)
    counts = {}
    for split, image_dir, mask_dir in ISIC_FOLDERS:
        if split == 'val' and not (raw / image_dir).is_dir():
            continue
        masks = {
            p.stem.replace('_segmentation', ''): p
            for p in _images(raw / mask_dir)
        }
        counts[split] = 0
        for image in _images(raw / image_dir):
            if image.stem not in masks:
                raise FileNotFoundError(
                    f'No ground truth {image.stem}_segmentation.png in '
                    f'{raw / mask_dir}.')
            _write_pair(image, masks[image.stem], out, split, image.stem)
            counts[split] += 1
    return counts
