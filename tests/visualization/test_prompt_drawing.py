"""Readable prompt-labelled boxes and regions, and labels in any script."""
import numpy as np
import pytest

from mmvlm.visualization import (draw_prompt_detections,
                                 draw_prompt_segmentation, find_font,
                                 place_labels)
from mmvlm.visualization import label_text


def test_boxes_below_threshold_are_not_drawn_and_counted():
    image = np.zeros((40, 60, 3), np.uint8)
    boxes = np.array([[5, 5, 20, 20], [30, 5, 55, 35], [6, 6, 21, 21]])
    out = draw_prompt_detections(image,
                                 boxes,
                                 np.array([0.9, 0.5, 0.2]),
                                 np.array([0, 1, 0]), ['cell', 'dust'],
                                 score_thr=0.3,
                                 palette=[(255, 0, 0), (0, 0, 255)])
    zoom = 11  # ceil(640 / 60)
    title = out.shape[0] - 40 * zoom
    body = out[title:title + 40 * zoom, :60 * zoom]
    red = (body == (255, 0, 0)).all(-1)
    blue = (body == (0, 0, 255)).all(-1)
    assert red.any() and blue.any()
    # the 0.2 box (x = 21 * zoom) is not drawn: its right edge stays dark
    assert not red[int(14 * zoom):int(19 * zoom), 21 * zoom + 2].any()
    with pytest.raises(ValueError, match='do not index the 2 prompts'):
        draw_prompt_detections(image, boxes, np.ones(3), np.array([0, 1, 2]),
                               ['cell', 'dust'])
    # at most max_boxes, the rest reported in the title
    many = draw_prompt_detections(image,
                                  np.repeat(boxes[:1], 50, 0),
                                  np.linspace(0.4, 0.9, 50),
                                  np.zeros(50, int), ['cell'],
                                  max_boxes=5,
                                  min_size=0)
    assert many.shape[1] >= 60


def test_labels_without_a_free_spot_are_reported_and_go_to_a_legend():
    image = np.zeros((200, 200, 3), np.uint8)
    anchors = [('label number %d' % i, (10, 10, 30, 30), (200, 0, 0))
               for i in range(12)]
    _, unplaced = place_labels(image, anchors)
    assert 0 < len(unplaced) < 12  # some fit around the box, not all
    # a label wider than the image has no spot
    _, unplaced = place_labels(image[:, :50], anchors[:1])
    assert unplaced == [0]
    masks = np.zeros((3, 20, 30), bool)
    masks[0, :10], masks[1, 10:, :15], masks[2, 10:, 15:] = True, True, True
    plain = draw_prompt_segmentation(np.zeros((20, 30, 3), np.uint8),
                                     masks, ['a', 'b', 'c'],
                                     legend=False)
    assert plain.shape == (20 * 22, 30 * 22, 3)  # enlarged to 660 px
    crowded = draw_prompt_segmentation(
        np.zeros((20, 30, 3), np.uint8), masks,
        ['a very long prompt about the sky over the town'] * 3)
    assert crowded.shape[1] > 30 * 22  # the legend panel on the right


def test_non_latin_labels_draw_real_glyphs_or_escape(monkeypatch):
    if find_font('细胞') is not None:
        drawn = label_text.text_pixels('细胞')
        assert drawn['shown'] == '细胞' and drawn['distinct'] == 2
        assert drawn['ink'] > 40
    # with no font for the script: escaped ASCII, never empty boxes
    monkeypatch.setattr(
        label_text, 'find_font', lambda text: None
        if any(ord(c) > 127 for c in text) else label_text._font_files()[0])
    drawn = label_text.text_pixels('血液')
    assert drawn['shown'] == '\\u8840\\u6db2'


def test_dataset_browser_fonts_have_the_glyphs():
    from mmvlm.visualization.label_text import _code_points, font_properties
    latin, cjk = font_properties(['cell', '0 + 细胞 (id 0)'])
    assert ord('c') in _code_points(latin.get_file())
    if find_font('细胞') is not None:
        assert ord('细') in _code_points(cjk.get_file())


def test_matplotlib_visualizers_fall_back_to_a_cjk_font():
    """After register_fallback_fonts, mmengine's Visualizer (mmdet / mmseg
    hooks) draws CJK prompts: no "Glyph missing" warning."""
    from matplotlib import rcParams
    saved = list(rcParams['font.sans-serif'])
    import warnings

    import torch
    from mmengine.visualization import Visualizer

    from mmvlm.visualization import register_fallback_fonts
    try:
        if not register_fallback_fonts():
            pytest.skip('no CJK font installed (fonts-wqy-microhei)')
        visualizer = Visualizer(image=np.zeros((40, 120, 3), np.uint8))
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            visualizer.draw_texts('细胞 cell',
                                  torch.tensor([2, 2]),
                                  colors='w')
            drawn = visualizer.get_image()
        assert (drawn > 128).any()
    finally:
        rcParams['font.sans-serif'] = saved
