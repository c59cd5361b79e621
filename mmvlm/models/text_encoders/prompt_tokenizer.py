"""Token ids of prompts, cut to the language model's length budget."""
import unicodedata
import warnings
from typing import Dict, List, Sequence

#: A prompt is unrepresentable when at least this share of its text tokens
#: (special tokens excluded) is the tokenizer's unknown token.
MAX_UNKNOWN_FRACTION = 0.5

UNREPRESENTABLE_FIX = (
    'The language model cannot tell such prompts apart (their embeddings '
    'are identical). Use a language model whose tokenizer covers their '
    "script: a byte-level tokenizer (name_or_path='smollm2-135m') or a "
    'multilingual model, e.g. text_encoder=dict(name_or_path=<local copy '
    'of sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2>); or '
    'write the class names in a script this tokenizer knows. To only warn, '
    "set text_encoder=dict(..., on_unrepresentable='warn').")


class PromptTokenizer:
    """Tokenize prompts for a text encoder.

    Every sequence must fit ``max_length`` together with the learnable
    prefix, the deep prefix and visual tokens (``num_reserved``); longer
    prompts are truncated, keeping a closing special token (SEP / EOS), with
    one warning per tokenizer. For ``'eos'`` pooling the EOS token is
    appended when the tokenizer does not add it.

    Args:
        tokenizer: A ``PreTrainedTokenizerBase``.
        max_length (int): Positions per sequence.
        append_eos (bool): End every sequence with EOS (or SEP).
        on_unrepresentable (str): What to do with prompts the tokenizer
            cannot represent: (almost) only unknown tokens (at least
            :data:`MAX_UNKNOWN_FRACTION` of the text tokens), or distinct
            prompts with identical token ids (prompts equal up to case and
            spacing are not distinct). ``'error'`` raises a ValueError
            naming them and the fix; ``'warn'`` warns.
            Defaults to ``'error'``.
    """

    def __init__(self,
                 tokenizer,
                 max_length: int,
                 append_eos: bool,
                 on_unrepresentable: str = 'error') -> None:
        if on_unrepresentable not in ('error', 'warn'):
            raise ValueError(
                f'on_unrepresentable={on_unrepresentable!r} is not '
                "supported; use 'error' or 'warn'.")
        self.on_unrepresentable = on_unrepresentable
        self.tokenizer = tokenizer
        self.max_length = max_length
        #: Token ids after which the learned prefix goes (BOS / CLS).
        self.head_ids = {
            i
            for i in (tokenizer.cls_token_id, tokenizer.bos_token_id)
            if i is not None
        }
        eos = tokenizer.eos_token_id
        self.eos_id = eos if eos is not None else tokenizer.sep_token_id
        if append_eos and self.eos_id is None:
            raise ValueError("pooling='eos' needs a tokenizer with an EOS or "
                             "SEP token; use pooling='last' or 'mean'.")
        self.append_eos = append_eos
        self._warned = False

    def head_length(self, ids: Sequence[int]) -> int:
        """1 when the sequence starts with BOS / CLS, else 0."""
        return 1 if ids and ids[0] in self.head_ids else 0

    def empty_prompt(self) -> List[int]:
        """Ids of the empty prompt: special tokens only (EOS appended when
        needed)."""
        ids = list(self.tokenizer('')['input_ids'])
        if self.append_eos and (not ids or ids[-1] != self.eos_id):
            ids.append(self.eos_id)
        return ids

    def __call__(self,
                 prompts: Sequence[str],
                 num_reserved: int = 0) -> List[List[int]]:
        """Token ids of every prompt (special tokens included).

        Args:
            prompts (Sequence[str]): The prompts (``''`` gives only the
                special tokens).
            num_reserved (int): Positions taken by non-text inputs.

        Returns:
            list[list[int]]: One id list per prompt.
        """
        if not prompts:
            return []
        ids = self.tokenizer(list(prompts), add_special_tokens=True)
        self.check_representable(prompts, ids['input_ids'])
        return [
            self.fit(list(seq), prompt, num_reserved)
            for seq, prompt in zip(ids['input_ids'], prompts)
        ]

    def check_representable(self, prompts: Sequence[str],
                            token_ids: Sequence[Sequence[int]]) -> None:
        """Raise (or warn) on prompts the tokenizer cannot represent.

        Args:
            prompts (Sequence[str]): The prompts.
            token_ids (Sequence[Sequence[int]]): Their token ids (special
                tokens included), before truncation.

        Raises:
            ValueError: With ``on_unrepresentable='error'``, when a prompt
                is (almost) only unknown tokens, or distinct prompts have
                identical token ids.
        """
        special = set(self.tokenizer.all_special_ids)
        unk = self.tokenizer.unk_token_id
        problems = []
        seen: Dict[tuple, str] = {}
        for prompt, seq in zip(prompts, token_ids):
            if not prompt.strip():
                continue  # padding entries: special tokens only
            text = [i for i in seq if i not in special]
            num_unk = sum(i == unk for i in seq) if unk is not None else 0
            if num_unk and num_unk >= MAX_UNKNOWN_FRACTION * max(
                    len(text) + num_unk, 1):
                tokens = ' '.join(
                    self.tokenizer.convert_ids_to_tokens(list(seq)))
                problems.append(f'{prompt!r} -> {tokens} ({num_unk} unknown '
                                f'of {len(text) + num_unk} tokens)')
            key = tuple(seq)
            other = seen.setdefault(key, prompt)
            if _normalise(other) != _normalise(prompt):
                problems.append(f'{other!r} and {prompt!r} have identical '
                                f'token ids {list(seq)}')
        if not problems:
            return
        name = getattr(self.tokenizer, 'name_or_path', '') or 'the model'
        message = (
            f'The tokenizer of {name} cannot represent these prompts: ' +
            '; '.join(problems[:8]) +
            (f' and {len(problems) - 8} more' if len(problems) > 8 else '') +
            '. ' + UNREPRESENTABLE_FIX)
        if self.on_unrepresentable == 'error':
            raise ValueError(message)
        warnings.warn(message, UserWarning, stacklevel=4)

    def fit(self,
            seq: List[int],
            prompt: str,
            num_reserved: int = 0) -> List[int]:
        """Truncate ``seq`` to the budget and append EOS when needed."""
        append = self.append_eos and (not seq or seq[-1] != self.eos_id)
        budget = self.max_length - num_reserved - int(append)
        if len(seq) > budget:
            if not self._warned:
                warnings.warn(
                    f'Prompt {prompt[:60]!r}... is {len(seq)} tokens long; '
                    f'the model takes {self.max_length} per sequence '
                    f'({num_reserved} taken by prefix / visual tokens), so it '
                    f'is truncated to its first {budget} tokens, and so is '
                    'every other prompt longer than that. Shorten the '
                    'prompts, or give the text encoder a larger max_length '
                    "(up to the language model's positions). This warning is "
                    'shown once.',
                    UserWarning,
                    stacklevel=4)
                self._warned = True
            special = set(self.tokenizer.all_special_ids)
            if seq[-1] in special and budget > 1:
                seq = seq[:budget - 1] + seq[-1:]
            else:
                seq = seq[:budget]
        if append:
            seq = seq + [self.eos_id]
        return seq


def _normalise(prompt: str) -> str:
    """Case- and spacing-insensitive form: prompts equal in it are one."""
    return ' '.join(unicodedata.normalize('NFC', prompt).casefold().split())
