"""Data structures of mmvlm that both codebases share (no mmdet / mmseg
import): the vocabulary a language-guided model scores and the prompts
file it is read from, with their bounds (prompt count, file size)."""
from .prompts_file import (MAX_FILE_MB, MAX_FILE_MB_ENV, PROMPTS_FILE_SUFFIXES,
                           PromptClass, PromptsFile, PromptsFileMismatchError,
                           check_file_size, is_prompts_file,
                           load_prompts_file, write_prompts_file)
from .vocabulary import (DATASET_NAME, MAX_PROMPTS, MAX_PROMPTS_ENV,
                         STUFF_SUFFIXES, BatchVocabulary,
                         MissingVocabularyError, VocabEntry, Vocabulary,
                         VocabularyLike, check_prompt_count,
                         check_prompt_total, check_synonyms,
                         clean_class_name, dataset_texts, deduplicate,
                         expand_prompts, image_name, max_prompts,
                         normalize_templates, normalize_vocabulary,
                         select_batch_vocabulary, split_batch_texts,
                         split_prompts, vocabulary_conflicts,
                         warn_vocabulary_conflicts)

__all__ = [
    'BatchVocabulary', 'DATASET_NAME', 'MAX_FILE_MB', 'MAX_FILE_MB_ENV',
    'MAX_PROMPTS', 'MAX_PROMPTS_ENV', 'MissingVocabularyError',
    'PROMPTS_FILE_SUFFIXES', 'PromptClass', 'PromptsFile',
    'PromptsFileMismatchError', 'STUFF_SUFFIXES', 'VocabEntry', 'Vocabulary',
    'VocabularyLike', 'check_file_size', 'check_prompt_count',
    'check_prompt_total',
    'check_synonyms', 'clean_class_name', 'dataset_texts',
    'deduplicate', 'expand_prompts', 'image_name', 'is_prompts_file',
    'load_prompts_file', 'normalize_templates', 'normalize_vocabulary',
    'select_batch_vocabulary', 'split_batch_texts', 'split_prompts',
    'write_prompts_file', 'max_prompts', 'vocabulary_conflicts',
    'warn_vocabulary_conflicts'
]
