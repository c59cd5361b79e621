"""Kvasir-SEG: colonoscopy polyp segmentation with text prompts."""
from mmseg.datasets import BaseSegDataset

from mmvlm.registry import SEG_DATASETS


@SEG_DATASETS.register_module()
class KvasirSEGDataset(BaseSegDataset):
    """Kvasir-SEG (1000 colonoscopy images, one polyp class).

    Layout (as mmseg's ``projects/medical/2d_image/endoscopy/kvasir_seg``
    prepares it; :func:`prepare_kvasir_seg` converts the raw download)::

        data_root/images/{train,val}/<name>.png
        data_root/masks/{train,val}/<name>.png   # 0 background, 1 polyp

    ``METAINFO['prompts']`` gives each class its text prompts (a tuple of
    synonyms averaged into one embedding); a language-guided model uses them
    as its vocabulary (``vocabulary='KvasirSEGDataset'``).

    Args:
        img_suffix (str): Image suffix. Default '.png'.
        seg_map_suffix (str): Mask suffix. Default '.png'.
        reduce_zero_label (bool): Keep background as class 0. Default False.
        **kwargs: Arguments of :class:`BaseSegDataset`.
    """
    METAINFO = dict(classes=('background', 'polyp'),
                    palette=[[0, 0, 0], [255, 64, 64]],
                    prompts=(('background', 'normal colon mucosa'),
                             ('polyp', 'colorectal polyp', 'colon polyp')))

    def __init__(self,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False,
                 **kwargs) -> None:
        super().__init__(img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label,
                         **kwargs)
