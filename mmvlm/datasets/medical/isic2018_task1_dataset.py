"""ISIC-2018 task 1: dermoscopic skin-lesion segmentation with prompts."""
from mmseg.datasets import BaseSegDataset

from mmvlm.registry import SEG_DATASETS


@SEG_DATASETS.register_module()
class ISIC2018Task1Dataset(BaseSegDataset):
    """ISIC-2018 task 1 (lesion boundary segmentation, one lesion class).

    Layout (as mmseg's ``projects/medical/2d_image/dermoscopy/isic*_task1``
    prepare it; :func:`prepare_isic2018_task1` converts the raw download)::

        data_root/images/{train,val}/ISIC_<id>.png
        data_root/masks/{train,val}/ISIC_<id>.png   # 0 background, 1 lesion

    Args:
        img_suffix (str): Image suffix. Default '.png'.
        seg_map_suffix (str): Mask suffix. Default '.png'.
        reduce_zero_label (bool): Keep background as class 0. Default False.
        **kwargs: Arguments of :class:`BaseSegDataset`.
    """
    METAINFO = dict(classes=('background', 'skin lesion'),
                    palette=[[0, 0, 0], [255, 200, 0]],
                    prompts=(('background', 'healthy skin'),
                             ('skin lesion', 'melanoma', 'mole')))

    def __init__(self,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False,
                 **kwargs) -> None:
        super().__init__(img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label,
                         **kwargs)
