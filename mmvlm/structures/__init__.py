"""Data structures of mmvlm that both codebases share (no mmdet / mmseg
import): the vocabulary a language-guided model scores and the prompts
file it is read from."""
from .prompts_file import (PROMPTS_FILE_SUFFIXES, PromptClass, PromptsFile,
                           PromptsFileMismatchError, is_prompts_file,
                           load_prompts_file, write_prompts_file)
from .vocabulary import (DATASET_NAME, STUFF_SUFFIXES, BatchVocabulary,
                         MissingVocabularyError, VocabEntry, Vocabulary,
                         VocabularyLike, check_synonyms, clean_class_name,
                         dataset_texts, deduplicate, expand_prompts,
                         image_name, normalize_templates, normalize_vocabulary,
                         select_batch_vocabulary, split_batch_texts,
                         split_prompts)

__all__ = [
    'BatchVocabulary', 'DATASET_NAME', 'MissingVocabularyError',
    'PROMPTS_FILE_SUFFIXES', 'PromptClass', 'PromptsFile',
    'PromptsFileMismatchError', 'STUFF_SUFFIXES', 'VocabEntry', 'Vocabulary',
    'VocabularyLike', 'check_synonyms', 'clean_class_name', 'dataset_texts',
    'deduplicate', 'expand_prompts', 'image_name', 'is_prompts_file',
    'load_prompts_file', 'normalize_templates', 'normalize_vocabulary',
    'select_batch_vocabulary', 'split_batch_texts', 'split_prompts',
    'write_prompts_file'
]
