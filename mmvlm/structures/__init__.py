"""Data structures of mmvlm that both codebases share (no mmdet / mmseg
import): the vocabulary a language-guided model scores."""
from .vocabulary import (DATASET_NAME, STUFF_SUFFIXES, BatchVocabulary,
                         MissingVocabularyError, VocabEntry, Vocabulary,
                         VocabularyLike, check_synonyms, clean_class_name,
                         dataset_texts, deduplicate, expand_prompts,
                         image_name, normalize_templates, normalize_vocabulary,
                         select_batch_vocabulary, split_batch_texts,
                         split_prompts)

__all__ = [
    'BatchVocabulary', 'DATASET_NAME', 'MissingVocabularyError',
    'STUFF_SUFFIXES', 'VocabEntry', 'Vocabulary', 'VocabularyLike',
    'check_synonyms', 'clean_class_name', 'dataset_texts', 'deduplicate',
    'expand_prompts', 'image_name', 'normalize_templates',
    'normalize_vocabulary', 'select_batch_vocabulary', 'split_batch_texts',
    'split_prompts'
]
