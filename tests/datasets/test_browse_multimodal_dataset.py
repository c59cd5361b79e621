"""mmvlm.visualization.dataset_browser (behind
tools/analysis_tools/browse_multimodal_dataset.py) renders PNGs."""
import mmcv
import pytest
from mmengine.config import Config


@pytest.fixture(scope='module')
def tool():
    from mmvlm.visualization import dataset_browser
    return dataset_browser


CONFIG = """
default_scope = 'mmdet'
custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)
train_dataloader = dict(dataset=dict(
    type='MultiModalDataset',
    class_text_path={class_text_path!r},
    dataset=dict(
        type='CocoDataset',
        data_root={data_root!r},
        ann_file={ann_file!r},
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=('traffic_light', 'dog', 'wall-other-merged',
                               'bow_(weapon)')),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
            dict(type='LoadClassTexts'),
            dict(type='RandomSampleNegativeTexts', num_negatives=1,
                 max_num_texts=5, seed=0),
            dict(type='PackDetInputs', meta_keys=(
                'img_id', 'img_path', 'ori_shape', 'img_shape',
                'scale_factor', 'text', 'text_mask', 'text_label_ids',
                'custom_entities')),
        ])))
"""


def test_browse_tool_writes_annotated_pngs(tool, tiny_coco, class_text_file,
                                           tmp_path):
    data_root, ann_file = tiny_coco
    config = tmp_path / 'browse_cfg.py'
    config.write_text(
        CONFIG.format(
            class_text_path=class_text_file,
            data_root=data_root,
            ann_file=ann_file))
    out_dir = tmp_path / 'out'
    written = tool.browse_dataset(
        Config.fromfile(config), str(out_dir), num_samples=2)
    assert len(written) == 2
    for path in written:
        picture = mmcv.imread(path)
        # 64x48 image zoomed x4 (auto) + vocabulary panel
        assert tool.auto_scale(48, 64) == 4
        assert picture.shape[1] == 4 * 64 + tool.PANEL_WIDTH
        assert picture.shape[0] == 4 * 48
        panel = picture[:, 4 * 64:]
        assert (panel < 250).any()  # text was drawn on the white panel


def test_render_marks_boxes_and_lists_vocabulary(tool):
    import torch
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    sample = DetDataSample(
        metainfo=dict(
            text=('dog', ('cat', 'kitty'), ''),
            text_mask=(True, True, False),
            text_label_ids=(5, 2, -1)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[8., 8., 40., 30.]]),
        labels=torch.tensor([1]))
    image = torch.zeros(3, 48, 64, dtype=torch.uint8)
    picture = tool.render_sample(image, sample)
    # 3 vocabulary lines + a margin line set the height of the panel
    assert picture.shape == (max(48, 4 * tool.LINE_HEIGHT),
                             64 + tool.PANEL_WIDTH, 3)
    assert picture[8:31, 8].any()  # box edge drawn on the black image
    assert not picture[44:48, 50:64].any()  # far from the box: untouched
    lines = tool.describe_vocabulary(sample.metainfo, [1])
    assert lines == ['  0 - dog (id 5)', '  1 + cat | kitty (id 2)',
                     '  2 . <pad>']


def test_render_segmentation_sample_zoomed(tool):
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    sample = SegDataSample(
        metainfo=dict(text=('sky', 'tree'), text_mask=(True, True)))
    seg = torch.zeros(1, 10, 12, dtype=torch.long)
    seg[:, :, 6:] = 1
    seg[:, :2] = 255
    sample.gt_sem_seg = PixelData(data=seg)
    image = torch.zeros(3, 10, 12, dtype=torch.uint8)
    picture = tool.render_sample(image, sample, scale=2)
    assert picture.shape == (max(20, 3 * tool.LINE_HEIGHT),
                             24 + tool.PANEL_WIDTH, 3)
    colors = tool.palette(2) // 2  # blended 50 % onto a black image
    assert (picture[10, 4] == colors[0]).all()  # class 0 region
    assert (picture[10, 20] == colors[1]).all()  # class 1 region
    assert not picture[1, 4].any()  # ignore_index pixels stay untouched
    with pytest.raises(ValueError, match='scale'):
        tool.render_sample(image, sample, scale=0)
