"""Token ids of prompts, cut to the language model's length budget."""
import warnings
from typing import List, Sequence


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
    """

    def __init__(self, tokenizer, max_length: int, append_eos: bool) -> None:
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
        return [
            self.fit(list(seq), prompt, num_reserved)
            for seq, prompt in zip(ids['input_ids'], prompts)
        ]

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
                    'and other long prompts are truncated. This warning is '
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
