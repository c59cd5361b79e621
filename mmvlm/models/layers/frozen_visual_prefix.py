"""A frozen causal LM read with a visual prefix ("Frozen", Tsimpoukelli et
al. 2021): score class names by log-likelihood, train with next-token loss,
write free text.

The sequence the LM sees is ``[BOS] [visual tokens] [prompt] [name] [EOS]``
(BOS when the tokenizer adds one, EOS with ``append_eos``). The LM stays
frozen; gradients flow through it into the visual tokens only.

Class scoring computes the prefix ``[BOS] [visual] [prompt]`` once per image
and reuses its key/value cache for every class name, so ``K`` names cost one
prefix run plus ``K`` name-length runs instead of ``K`` full runs
(:meth:`FrozenPrefixLM.score_names`; the naive re-run is
:meth:`FrozenPrefixLM.score_names_naive`, kept for tests and benchmarks).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmvlm.models.text_encoders.hf_compat import (cache_argument,
                                                  new_prefix_cache)
from mmvlm.models.text_encoders.hf_model_info import is_decoder_only


def output_embedding_weight(lm: nn.Module) -> Tensor:
    """The ``[V, H]`` matrix that turns the LM's last hidden states into
    next-token logits.

    A causal LM with a head (``...ForCausalLM``) gives its own; a base model
    (``AutoModel``, what :class:`HFTextEncoder` loads) only has the head when
    the model ties it to its input embeddings (SmolLM2, GPT-2).

    Args:
        lm (nn.Module): A Hugging Face causal LM or its base model.

    Returns:
        Tensor: The output embedding weight.

    Raises:
        ValueError: A base model with untied output embeddings.
    """
    head = getattr(lm, 'get_output_embeddings', lambda: None)()
    if head is not None:
        return head.weight
    config = lm.config
    tied = getattr(config, 'tie_word_embeddings', None)
    text_config = getattr(config, 'get_text_config', lambda: config)()
    tied = getattr(text_config, 'tie_word_embeddings', tied)
    if tied:
        return lm.get_input_embeddings().weight
    raise ValueError(
        f'{type(lm).__name__} ({getattr(config, "model_type", "?")}) has an '
        'output head that is not tied to its input embeddings, and the base '
        'model loaded here carries no head: generative scoring and '
        'generate() need next-token logits. Use a causal LM with tied '
        'embeddings (SmolLM2 `smollm2-135m`, GPT-2, Llama configs with '
        'tie_word_embeddings=True), or mode="embedding".')


def _cache_key_values(cache) -> List[Tuple[Tensor, Tensor]]:
    """Per-layer ``(keys, values)`` ``[B, kv_heads, P, head_dim]`` of a
    transformers cache (``.layers`` from transformers 4.56, else the older
    ``key_cache`` / ``value_cache`` lists)."""
    layers = getattr(cache, 'layers', None)
    if layers is not None:
        return [(layer.keys, layer.values) for layer in layers]
    return list(zip(cache.key_cache, cache.value_cache))


class FrozenPrefixLM:
    """A frozen causal LM that reads visual tokens as a prefix.

    It holds references to the LM and tokenizer (it owns no parameters and
    is not an ``nn.Module``: the LM stays where it was built, e.g. in an
    :class:`HFTextEncoder`, and out of checkpoints).

    Args:
        lm (nn.Module): Hugging Face causal LM or its base model (frozen by
            the caller). Its output head is :func:`output_embedding_weight`.
        tokenizer: Its tokenizer.
        prompt (str): Text between the visual tokens and the class name.
            Default ``'This is a photo of'``.
        append_eos (bool): Score (and train) the EOS token after the name,
            so that a name is not rewarded for being the start of a longer
            one. Default True.
        normalize (str): ``'sum'`` (log-likelihood of the name, default)
            or ``'mean'`` (per token) for class scores.
        names_per_chunk (int): Class names scored per LM call (bounds the
            memory of the ``[names, tokens, vocabulary]`` logits).
    """

    def __init__(self,
                 lm: nn.Module,
                 tokenizer,
                 prompt: str = 'This is a photo of',
                 append_eos: bool = True,
                 normalize: str = 'sum',
                 names_per_chunk: int = 64) -> None:
        if normalize not in ('sum', 'mean'):
            raise ValueError(f"normalize must be 'sum' or 'mean', got "
                             f'{normalize!r}.')
        if names_per_chunk < 1:
            raise ValueError('names_per_chunk must be >= 1, got '
                             f'{names_per_chunk}.')
        self.lm = lm
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.append_eos = append_eos
        self.normalize = normalize
        self.names_per_chunk = int(names_per_chunk)
        self.cache_argument = cache_argument(lm)
        if self.cache_argument is None or not is_decoder_only(lm.config):
            raise ValueError(
                f'{type(lm).__name__} takes no key/value cache: the visual '
                'prefix needs a decoder-only (causal) language model.')
        self.head_weight = output_embedding_weight(lm)
        if append_eos and tokenizer.eos_token_id is None:
            raise ValueError('append_eos=True but the tokenizer has no EOS '
                             'token; set append_eos=False.')
        self._name_ids = {}

    # ------------------------------------------------------------ tokens
    @property
    def device(self) -> torch.device:
        return self.head_weight.device

    def _embed(self, ids: Tensor) -> Tensor:
        table = self.lm.get_input_embeddings()
        return table(ids.to(self.device)).to(self.head_weight.dtype)

    def prompt_ids(self) -> Tuple[List[int], List[int]]:
        """``(head, prompt)`` token ids: the special tokens the tokenizer
        puts before a text (BOS or nothing) and the prompt's own ids."""
        with_special = self.tokenizer(self.prompt).input_ids
        plain = self.tokenizer(self.prompt, add_special_tokens=False).input_ids
        head = with_special[:len(with_special) - len(plain)] if len(
            with_special) > len(plain) else []
        # Tokenizers that append an EOS after a text: keep only the head.
        if with_special[len(head):len(head) + len(plain)] != plain:
            head = []
        return list(head), list(plain)

    def name_ids(self, name: str) -> List[int]:
        """Token ids of a class name as it follows the prompt (a leading
        space, then EOS with ``append_eos``)."""
        if name in self._name_ids:
            return self._name_ids[name]
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f'Class names must be non-empty strings, got '
                             f'{name!r}.')
        text = ' ' + name.strip() if self.prompt else name.strip()
        ids = list(self.tokenizer(text, add_special_tokens=False).input_ids)
        if self.append_eos:
            ids.append(self.tokenizer.eos_token_id)
        if not ids:
            raise ValueError(f'Class name {name!r} gives no tokens.')
        self._name_ids[name] = ids
        return ids

    def prefix_embeds(self, visual_tokens: Tensor) -> Tensor:
        """``[B, P, H]`` input embeddings of ``[BOS] [visual] [prompt]``.

        Args:
            visual_tokens (Tensor): ``[B, V, H]`` in the LM's input space.

        Returns:
            Tensor: The prefix embeddings.
        """
        hidden = self.head_weight.shape[1]
        if visual_tokens.dim() != 3 or visual_tokens.shape[-1] != hidden:
            raise ValueError(
                f'visual_tokens must be [B, V, {hidden}] (the LM width), got '
                f'{tuple(visual_tokens.shape)}.')
        batch = visual_tokens.shape[0]
        head, prompt = self.prompt_ids()
        parts = []
        if head:
            ids = torch.tensor(head, device=self.device)
            parts.append(self._embed(ids).expand(batch, -1, -1))
        parts.append(visual_tokens.to(self.head_weight.dtype))
        if prompt:
            ids = torch.tensor(prompt, device=self.device)
            parts.append(self._embed(ids).expand(batch, -1, -1))
        return torch.cat(parts, dim=1)

    # ---------------------------------------------------------- LM calls
    def _run(self, embeds: Tensor, cache=None, use_cache: bool = False):
        """Last hidden states ``[N, L, H]`` (and the cache when asked)."""
        kwargs = dict(inputs_embeds=embeds, use_cache=use_cache)
        if cache is not None:
            kwargs[self.cache_argument] = cache
        out = self.lm(**kwargs)
        hidden = out[0] if isinstance(out, tuple) else out.last_hidden_state
        if not use_cache:
            return hidden, None
        new_cache = getattr(out, self.cache_argument, None)
        if new_cache is None:
            new_cache = getattr(out, 'past_key_values', None)
        return hidden, new_cache

    def _log_probs(self, hidden: Tensor) -> Tensor:
        """``[..., V]`` next-token log-probabilities of hidden states."""
        logits = hidden.to(self.head_weight.dtype) @ self.head_weight.t()
        return F.log_softmax(logits.float(), dim=-1)

    def _pad_names(self, names: Sequence[str]) -> Tuple[Tensor, Tensor]:
        """Right-padded ``[K, L]`` name ids and their bool mask."""
        lists = [self.name_ids(n) for n in names]
        length = max(len(ids) for ids in lists)
        ids = torch.zeros(len(lists), length, dtype=torch.long)
        mask = torch.zeros(len(lists), length, dtype=torch.bool)
        for row, item in enumerate(lists):
            ids[row, :len(item)] = torch.tensor(item)
            mask[row, :len(item)] = True
        return ids.to(self.device), mask.to(self.device)

    def _reduce(self, token_logp: Tensor, mask: Tensor) -> Tensor:
        total = (token_logp * mask).sum(-1)
        if self.normalize == 'mean':
            total = total / mask.sum(-1).clamp(min=1)
        return total

    # ----------------------------------------------------------- scoring
    def score_names(self, visual_tokens: Tensor,
                    names: Sequence[str]) -> Tensor:
        """Log-likelihood of every class name given each image's prefix.

        The prefix runs once per image; its key/value cache is repeated for
        a chunk of names and the names run on top of it (right padding:
        causal attention keeps padding out of the real tokens' scores).

        Args:
            visual_tokens (Tensor): ``[B, V, H]``.
            names (Sequence[str]): ``K`` class names.

        Returns:
            Tensor: ``[B, K]`` float32 scores (``normalize``).
        """
        prefix = self.prefix_embeds(visual_tokens)
        batch, length = prefix.shape[:2]
        hidden, cache = self._run(prefix, use_cache=True)
        first_logp = self._log_probs(hidden[:, -1])  # [B, V]
        layers = _cache_key_values(cache)
        scores = []
        for start in range(0, len(names), self.names_per_chunk):
            chunk = names[start:start + self.names_per_chunk]
            ids, mask = self._pad_names(chunk)
            num = len(chunk)
            keys = torch.stack(
                [k.repeat_interleave(num, dim=0) for k, _ in layers])
            values = torch.stack(
                [v.repeat_interleave(num, dim=0) for _, v in layers])
            rep = new_prefix_cache(self.lm.config, keys, values)
            embeds = self._embed(ids).repeat(batch, 1, 1)  # [B*num, L, H]
            out, _ = self._run(embeds, cache=rep, use_cache=True)
            # Token j is predicted by the hidden state before it.
            logp = self._log_probs(out[:, :-1])  # [B*num, L-1, V]
            targets = ids.repeat(batch, 1)
            later = logp.gather(-1, targets[:, 1:, None])[..., 0]
            first = first_logp.repeat_interleave(num,
                                                 0).gather(-1, targets[:, :1])
            token_logp = torch.cat([first, later], dim=1)
            chunk_scores = self._reduce(token_logp, mask.repeat(batch, 1))
            scores.append(chunk_scores.view(batch, num))
        del length
        return torch.cat(scores, dim=1)

    def score_names_naive(self, visual_tokens: Tensor,
                          names: Sequence[str]) -> Tensor:
        """Same scores as :meth:`score_names`, one full LM run of
        ``[prefix] [name]`` per class (the reference it is tested and
        benchmarked against).

        Args:
            visual_tokens (Tensor): ``[B, V, H]``.
            names (Sequence[str]): ``K`` class names.

        Returns:
            Tensor: ``[B, K]`` float32 scores.
        """
        prefix = self.prefix_embeds(visual_tokens)
        batch, length = prefix.shape[:2]
        columns = []
        for name in names:
            ids = torch.tensor(self.name_ids(name), device=self.device)
            embeds = torch.cat(
                [prefix, self._embed(ids).expand(batch, -1, -1)], dim=1)
            hidden, _ = self._run(embeds)
            logp = self._log_probs(hidden[:, length - 1:-1])
            token_logp = logp.gather(-1, ids.expand(batch, -1)[..., None])
            mask = torch.ones_like(token_logp[..., 0], dtype=torch.bool)
            columns.append(self._reduce(token_logp[..., 0], mask))
        return torch.stack(columns, dim=1)

    # ---------------------------------------------------------- training
    def loss(self, visual_tokens: Tensor, targets: Sequence[str]) -> Tensor:
        """Next-token cross-entropy of each image's target text.

        Args:
            visual_tokens (Tensor): ``[B, V, H]`` (with gradient).
            targets (Sequence[str]): ``B`` target texts (class names).

        Returns:
            Tensor: Mean negative log-likelihood per target token.
        """
        if len(targets) != visual_tokens.shape[0]:
            raise ValueError(f'{len(targets)} targets for '
                             f'{visual_tokens.shape[0]} images.')
        prefix = self.prefix_embeds(visual_tokens)
        length = prefix.shape[1]
        ids, mask = self._pad_names(targets)
        embeds = torch.cat([prefix, self._embed(ids)], dim=1)
        hidden, _ = self._run(embeds)
        logits = hidden[:, length - 1:-1] @ self.head_weight.t().to(
            hidden.dtype)
        nll = F.cross_entropy(logits.float().flatten(0, 1),
                              ids.flatten(),
                              reduction='none')
        mask = mask.flatten().float()
        return (nll * mask).sum() / mask.sum().clamp(min=1)

    # -------------------------------------------------------- generation
    @torch.no_grad()
    def generate(self,
                 visual_tokens: Tensor,
                 max_new_tokens: int = 16,
                 num_beams: int = 1,
                 prompt: Optional[str] = None) -> List[str]:
        """Write text after ``[visual] [prompt]`` for every image.

        Greedy (``num_beams=1``) or beam search over summed log-probability;
        stops at EOS or ``max_new_tokens``.

        Args:
            visual_tokens (Tensor): ``[B, V, H]``.
            max_new_tokens (int): Most tokens written per image.
            num_beams (int): Beams (1: greedy).
            prompt (str, optional): Replace the prompt for this call.

        Returns:
            list[str]: One text per image (special tokens removed).
        """
        if max_new_tokens < 1 or num_beams < 1:
            raise ValueError('max_new_tokens and num_beams must be >= 1, got '
                             f'{max_new_tokens}, {num_beams}.')
        saved = self.prompt
        if prompt is not None:
            self.prompt = prompt
        try:
            prefix = self.prefix_embeds(visual_tokens)
        finally:
            self.prompt = saved
        eos = self.tokenizer.eos_token_id
        texts = []
        for image in range(prefix.shape[0]):
            ids = self._beam_search(prefix[image:image + 1], max_new_tokens,
                                    num_beams, eos)
            texts.append(
                self.tokenizer.decode(ids, skip_special_tokens=True).strip())
        return texts

    def _beam_search(self, prefix: Tensor, max_new_tokens: int, num_beams: int,
                     eos: Optional[int]) -> List[int]:
        """Token ids of the best continuation of one ``[1, P, H]`` prefix.

        Each step runs the beams' new tokens on top of the cache of the
        previous step (reordered by the surviving beams).
        """
        hidden, cache = self._run(prefix, use_cache=True)
        logp = self._log_probs(hidden[:, -1])  # [1, V]
        beams: List[Tuple[List[int], float]] = [([], 0.0)]
        finished: List[Tuple[List[int], float]] = []
        for step in range(max_new_tokens):
            total = logp + torch.tensor([s for _, s in beams],
                                        device=logp.device)[:, None]
            top, flat = total.flatten().topk(min(2 * num_beams, total.numel()))
            vocab = logp.shape[-1]
            survivors, parents = [], []
            for score, index in zip(top.tolist(), flat.tolist()):
                parent, token = divmod(index, vocab)
                seq = beams[parent][0] + [token]
                if eos is not None and token == eos:
                    finished.append((seq[:-1], score))
                else:
                    survivors.append((seq, score))
                    parents.append(parent)
                if len(survivors) == num_beams:
                    break
            if len(finished) >= num_beams or not survivors:
                break
            if finished and max(s for _, s in finished) >= max(
                    s for _, s in survivors):
                break
            beams = survivors
            if step == max_new_tokens - 1:
                break
            order = torch.tensor(parents, device=prefix.device)
            layers = _cache_key_values(cache)
            keys = torch.stack([k.index_select(0, order) for k, _ in layers])
            values = torch.stack([v.index_select(0, order) for _, v in layers])
            cache = new_prefix_cache(self.lm.config, keys, values)
            tokens = torch.tensor([[seq[-1]] for seq, _ in beams],
                                  device=prefix.device)
            hidden, cache = self._run(self._embed(tokens),
                                      cache=cache,
                                      use_cache=True)
            logp = self._log_probs(hidden[:, -1])
        candidates = finished + beams
        return max(candidates, key=lambda item: item[1])[0]
