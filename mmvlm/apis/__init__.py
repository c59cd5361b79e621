"""Python API of mmvlm: inference of language-guided detectors (with mmdet)
and segmentors (with mmseg) through registered inferencers, and vocabulary
baking."""
from ..registry import codebase_available
from .model_vocabulary import (class_names, temporary_vocabulary,
                               vocabulary_label_ids)
from .new_project import DataCheckError, NewProject, new_project
from .prompt_evaluation import evaluate_prompts
from .stock_checkpoint import load_stock_checkpoint, stock_to_language_guided

__all__ = [
    'class_names', 'load_stock_checkpoint', 'stock_to_language_guided',
    'temporary_vocabulary', 'vocabulary_label_ids', 'DataCheckError',
    'NewProject', 'new_project', 'evaluate_prompts'
]

if codebase_available('mmdet'):
    from .bake_vocabulary import (bake, bake_checkpoint, baked_config,
                                  baked_state_dict, dataset_classes,
                                  max_difference)
    from .det_inference import (detect, detect_and_draw, draw_detections,
                                init_language_guided_detector)
    from .inferencers import LanguageGuidedDetInferencer

    __all__ += [
        'bake', 'bake_checkpoint', 'baked_config', 'baked_state_dict',
        'dataset_classes', 'detect', 'detect_and_draw', 'draw_detections',
        'init_language_guided_detector', 'max_difference',
        'LanguageGuidedDetInferencer'
    ]

if codebase_available('mmseg'):
    from .inferencers import LanguageGuidedSegInferencer
    from .seg_inference import (draw_segmentation, inference_pipeline,
                                init_language_guided_segmentor, segment,
                                segment_and_draw)

    __all__ += [
        'draw_segmentation', 'inference_pipeline',
        'init_language_guided_segmentor', 'segment', 'segment_and_draw',
        'LanguageGuidedSegInferencer'
    ]
