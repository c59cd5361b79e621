"""Data structures of mmvlm that both codebases share (no mmdet / mmseg
import): the vocabulary a language-guided model scores (``vocabulary``),
the prompts file it is read from (``prompts_file``), and the checks and
bounds of names and prompts both use (``prompt_checks``: prompt count,
invisible names, classes the model cannot tell apart)."""
from .prompt_checks import (MAX_PROMPTS, MAX_PROMPTS_ENV, VocabEntry,
                            check_prompt_count, check_prompt_total,
                            check_synonyms, expand_prompts, max_prompts,
                            normalize_templates, vocabulary_conflicts,
                            warn_vocabulary_conflicts)
from .prompts_file import (MAX_FILE_MB, MAX_FILE_MB_ENV, PROMPTS_FILE_SUFFIXES,
                           PromptClass, PromptsFile, PromptsFileMismatchError,
                           check_file_size, is_prompts_file,
                           load_prompts_file, write_prompts_file)
from .vocabulary import (DATASET_NAME, STUFF_SUFFIXES, BatchVocabulary,
                         MissingVocabularyError, Vocabulary, VocabularyLike,
                         clean_class_name, dataset_texts, deduplicate,
                         image_name, normalize_vocabulary,
                         select_batch_vocabulary, split_batch_texts,
                         split_prompts)

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
