"""Bake a fixed vocabulary into a language-guided detector or segmentor.

Design notes: ``docs/design.md`` (module notes)."""
import copy
import importlib
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint, save_checkpoint
from mmengine.utils import import_modules_from_strings

from .model_vocabulary import temporary_vocabulary, vocabulary_label_ids


def dataset_classes(cfg: Config, checkpoint_meta: dict) -> Optional[list]:
    """The classes to bake by default: those the config's test split
    names in its ``metainfo`` (what ``tools/test.py`` evaluates the baked
    model on; with held-out names it names more than training saw), else
    the checkpoint's, else those of the test dataset's type.

    Args:
        cfg (Config): Config of the language-guided model.
        checkpoint_meta (dict): ``meta`` of the checkpoint (may be empty).

    Returns:
        list | None: Class names, None when none names any.
    """
    dataloader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    dataset = dict(dataloader['dataset']) if dataloader else {}
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes:
        return list(classes)
    meta = checkpoint_meta.get('dataset_meta') or {}
    if meta.get('classes'):
        return list(meta['classes'])
    if not dataset.get('type'):
        return None
    from mmdet.registry import DATASETS
    dataset_cls = DATASETS.get(dataset['type'])
    return list(getattr(dataset_cls, 'METAINFO', {}).get('classes', [])) \
        or None


def test_prompts(cfg: Config, num_classes: int) -> Optional[list]:
    """The prompts the config's test pipeline gives the model
    (``LoadClassTexts(classes=...)``: one entry per class, e.g. read from a
    prompts file), None when it gives none or not one per class."""
    dataloader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if not dataloader:
        return None
    for step in dataloader['dataset'].get('pipeline') or []:
        if step.get('type') == 'LoadClassTexts':
            texts = step.get('classes')
            if isinstance(texts, (list, tuple)) and len(texts) == \
                    num_classes:
                return [t if isinstance(t, str) else list(t) for t in texts]
    return None


def _drop_text_neck(model: dict) -> None:
    """Replace ``LLMPrefixNeck`` by its inner visual neck (in place)."""
    neck = model.get('neck')
    if neck is None or neck.get('type') != 'LLMPrefixNeck':
        raise ValueError('Baking expects model.neck of type LLMPrefixNeck, '
                         f'got {None if neck is None else neck.get("type")}.')
    for key in ('fusion', 'visual_prefix'):
        if neck.get(key) is not None:
            raise ValueError(
                f'model.neck.{key} is set: the text then changes the visual '
                'features or depends on the image, so a fixed vocabulary '
                'cannot be folded into the head exactly. Bake a model trained '
                f'with {key}=None.')
    inner = neck.get('neck')
    model.neck = copy.deepcopy(inner) if inner is not None else None
    if model.neck is None:
        model.pop('neck')


def is_segmentor_config(cfg: Config) -> bool:
    """Whether a config describes a segmentor (it has a decode head)."""
    return 'decode_head' in cfg.model


def baked_segmentor_config(cfg: Config, vocabulary: List) -> Config:
    """The config of a baked, language-model-free segmentor.

    Args:
        cfg (Config): Config of the language-guided segmentor.
        vocabulary (list): Baked vocabulary entries; label ``k`` of the
            baked model is entry ``k``.

    Returns:
        Config: mmseg's stock ``EncoderDecoder`` with the plain inner neck,
        no auxiliary head (training only) and the language-guided decode
        head allocating a baked vocabulary of ``len(vocabulary)`` entries.
    """
    cfg = copy.deepcopy(cfg)
    model = cfg.model
    _drop_text_neck(model)
    model.type = 'EncoderDecoder'
    for key in ('vocabulary', 'train_vocabulary', 'vocabulary_label_ids',
                'auxiliary_head'):
        model.pop(key, None)
    head = model.decode_head
    num = len(vocabulary)
    binary = head.get('out_channels') == 1
    head.num_classes = 2 if binary else num
    classifier = dict(head.get('classifier') or {})
    # a binary head bakes its foreground entry only
    classifier['num_baked_classes'] = 1 if binary else num
    head.classifier = classifier
    return cfg


def bake_decode_head(lg_model: torch.nn.Module, vocabulary: Sequence,
                     head: Optional[torch.nn.Module] = None
                     ) -> torch.nn.Module:
    """Bake ``vocabulary`` into a segmentor's decode head (the one way a
    segmentor is baked: here and in the ONNX export).

    Args:
        lg_model (nn.Module): A language-guided segmentor (its text neck
            embeds the vocabulary).
        vocabulary (Sequence): Entries (a tuple of synonyms is one entry).
        head (nn.Module, optional): The head to bake (changed in place);
            default: a copy of ``lg_model.decode_head``.

    Returns:
        nn.Module: The baked head.
    """
    if head is None:
        head = copy.deepcopy(lg_model.decode_head)
    embeds = lg_model.vocabulary_embeddings(list(vocabulary))
    head.bake_vocabulary(embeds.to(next(head.parameters()).device))
    return head


def baked_config(cfg: Config, vocabulary: List,
                 label_ids: List[int]) -> Config:
    """The config of the baked, language-model-free model.

    Args:
        cfg (Config): Config of the language-guided model.
        vocabulary (list): Baked vocabulary entries.
        label_ids (list[int]): Dataset label id of each entry.

    Returns:
        Config: Same model with the plain inner neck, heads allocating a
        baked vocabulary of ``len(vocabulary)`` classes, and the vocabulary
        stored on the detector for label mapping and visualisation.
    """
    cfg = copy.deepcopy(cfg)
    model = cfg.model
    _drop_text_neck(model)
    num = len(vocabulary)
    heads = [model.get('bbox_head')]
    if model.get('roi_head') is not None:
        heads = model.roi_head.bbox_head
        heads = heads if isinstance(heads, list) else [heads]
    for head in heads:
        if head is None:
            continue
        head.num_classes = num
        classifier = dict(head.get('classifier') or {})
        classifier['num_baked_classes'] = num
        head.classifier = classifier
    model.vocabulary = list(vocabulary)
    model.vocabulary_label_ids = list(label_ids)
    return cfg


def _inner_neck_prefix(lg_model: torch.nn.Module,
                       baked_model: torch.nn.Module) -> Optional[str]:
    """Name of the LLMPrefixNeck child that is the plain visual neck."""
    if getattr(baked_model, 'neck', None) is None:
        return None
    for name, child in lg_model.neck.named_children():
        if type(child) is type(baked_model.neck):
            return name
    raise RuntimeError('Could not find the inner visual neck '
                       f'({type(baked_model.neck).__name__}) inside '
                       'LLMPrefixNeck.')


def baked_state_dict(lg_model: torch.nn.Module,
                     baked_model: torch.nn.Module) -> dict:
    """The LG model's weights renamed for the baked model (LM dropped)."""
    prefix = _inner_neck_prefix(lg_model, baked_model)
    state = {}
    for key, value in lg_model.state_dict().items():
        if key.endswith('.baked_text'):
            continue  # set by bake_vocabulary() below
        if key.startswith('auxiliary_head.') and not getattr(
                baked_model, 'with_auxiliary_head', False):
            continue  # a segmentor's training-only heads
        if key.startswith('neck.'):
            if prefix is None or not key.startswith(f'neck.{prefix}.'):
                continue  # text encoder, projection, prefix: not needed
            key = 'neck.' + key[len(f'neck.{prefix}.'):]
        state[key] = value
    return state


def bake(lg_model: torch.nn.Module, cfg: Config, vocabulary: Sequence,
         label_ids: Optional[Sequence[int]] = None
         ) -> Tuple[torch.nn.Module, Config]:
    """Bake ``vocabulary`` into a copy of ``lg_model``.

    Args:
        lg_model (nn.Module): A built language-guided detector.
        cfg (Config): Its config.
        vocabulary (Sequence): Entries (or a prompt string).
        label_ids (Sequence[int], optional): Label id of each entry.

    Returns:
        tuple[nn.Module, Config]: The baked model (eval mode) and its config.
    """
    from mmdet.registry import MODELS

    from mmvlm.structures import Vocabulary

    # one entry per class: repeated prompts are dropped with one warning
    vocab = Vocabulary.parse(vocabulary, label_ids)
    entries, ids = list(vocab.entries), list(vocab.label_ids)
    new_cfg = baked_config(cfg, entries, ids)
    embeds = lg_model.vocabulary_embeddings(entries)
    baked = MODELS.build(new_cfg.model)
    missing, unexpected = baked.load_state_dict(
        baked_state_dict(lg_model, baked), strict=False)
    if unexpected or [k for k in missing if 'baked_text' not in k]:
        raise RuntimeError(f'Weights do not map onto the baked model: missing '
                           f'{missing}, unexpected {unexpected}.')
    for head in baked.language_guided_heads:
        head.bake_vocabulary(embeds.to(next(baked.parameters()).device))
    baked.dataset_meta = dict(classes=tuple(
        e if isinstance(e, str) else e[0] for e in entries))
    return baked.eval(), new_cfg


def bake_segmentor(lg_model: torch.nn.Module, cfg: Config,
                   vocabulary: Sequence,
                   label_ids: Optional[Sequence[int]] = None
                   ) -> Tuple[torch.nn.Module, Config, List]:
    """Bake ``vocabulary`` into a language-model-free copy of a segmentor.

    Args:
        lg_model (nn.Module): A built ``LanguageGuidedEncoderDecoder``.
        cfg (Config): Its config.
        vocabulary (Sequence): Entries (or a prompt string).
        label_ids (Sequence[int], optional): Label id of each entry; the
            baked model labels a pixel with the entry's index, so they must
            be ``0 .. K-1`` when given.

    Returns:
        tuple[nn.Module, Config, list]: The baked ``EncoderDecoder`` (eval
        mode, ``dataset_meta`` naming the entries), its config and the
        baked entries.

    Raises:
        ValueError: Label ids other than the entry indices.
        RuntimeError: The weights do not map onto the baked model.
    """
    from mmseg.registry import MODELS

    from mmvlm.structures import Vocabulary
    vocab = Vocabulary.parse(vocabulary, label_ids)
    entries, ids = list(vocab.entries), [int(i) for i in vocab.label_ids]
    if ids != list(range(len(entries))):
        raise ValueError(
            f'label ids {ids}: a baked segmentor labels each pixel with the '
            'index of its vocabulary entry; give the entries in label order '
            '(label k = entry k).')
    new_cfg = baked_segmentor_config(cfg, entries)
    baked = MODELS.build(new_cfg.model)
    missing, unexpected = baked.load_state_dict(
        baked_state_dict(lg_model, baked), strict=False)
    if unexpected or [k for k in missing if 'baked_text' not in k]:
        raise RuntimeError(f'Weights do not map onto the baked model: missing '
                           f'{missing}, unexpected {unexpected}.')
    bake_decode_head(lg_model, entries, head=baked.decode_head)
    baked.dataset_meta = dict(classes=tuple(
        e if isinstance(e, str) else e[0] for e in entries))
    return baked.eval(), new_cfg, entries


@torch.no_grad()
def max_logit_difference(lg_model: torch.nn.Module,
                         baked: torch.nn.Module,
                         vocabulary: Sequence,
                         size: Tuple[int, int] = (96, 80),
                         seed: int = 0) -> float:
    """Largest logit difference of two segmentors on a random image.

    Args:
        lg_model (nn.Module): The language-guided segmentor (its vocabulary
            is restored afterwards).
        baked (nn.Module): The baked segmentor.
        vocabulary (Sequence): The baked entries.
        size (tuple[int, int]): ``(H, W)`` of the random image.
        seed (int): Random seed.

    Returns:
        float: Max absolute difference of the ``[1, K, H', W']`` logits of
        ``encode_decode``.
    """
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(3, *size, generator=gen) * 255
    device = next(baked.parameters()).device
    inputs = baked.data_preprocessor(
        dict(inputs=[image.to(device)]))['inputs']
    meta = dict(img_shape=size, ori_shape=size, pad_shape=size)
    lg_model.eval()
    with temporary_vocabulary(lg_model, list(vocabulary),
                              list(range(len(vocabulary)))):
        ref = lg_model.encode_decode(inputs, [meta])
    out = baked.encode_decode(inputs, [meta])
    if ref.shape != out.shape:
        return float('inf')
    return float((ref - out).abs().max())


@torch.no_grad()
def max_difference(lg_model: torch.nn.Module, baked: torch.nn.Module,
                   vocabulary: Sequence, label_ids: Sequence[int],
                   size: int = 128, seed: int = 0) -> Tuple[float, float]:
    """Largest box and score difference of the two models on a random image.

    Args:
        lg_model (nn.Module): The language-guided model (its vocabulary is
            restored afterwards).
        baked (nn.Module): The baked model.
        vocabulary (Sequence): Vocabulary given to the LG model.
        label_ids (Sequence[int]): Its label ids.
        size (int): Side of the random image.
        seed (int): Random seed.

    Returns:
        tuple[float, float]: Max absolute box and score differences
        (``inf`` when the numbers of detections differ).
    """
    from mmdet.structures import DetDataSample
    gen = torch.Generator().manual_seed(seed)
    device = next(baked.parameters()).device
    image = torch.rand(1, 3, size, size, generator=gen, device=device) * 255
    meta = dict(img_shape=(size, size), ori_shape=(size, size),
                pad_shape=(size, size), batch_input_shape=(size, size),
                scale_factor=(1.0, 1.0))
    lg_model.eval()
    data = dict(inputs=[image[0]], data_samples=[DetDataSample(
        metainfo=meta)])
    with temporary_vocabulary(lg_model, list(vocabulary), label_ids):
        ref = lg_model.test_step(data)[0].pred_instances
        out = baked.test_step(data)[0].pred_instances
    if len(ref) != len(out) or not torch.equal(ref.labels, out.labels):
        return float('inf'), float('inf')
    if len(ref) == 0:
        return 0.0, 0.0
    return ((ref.bboxes - out.bboxes).abs().max().item(),
            (ref.scores - out.scores).abs().max().item())


def bake_checkpoint(config: str,
                    checkpoint: Optional[str],
                    out_dir: str,
                    vocabulary: Optional[str] = None,
                    atol: float = 1e-5,
                    cfg_options: Optional[dict] = None) -> Tuple[str, str]:
    """Bake a checkpoint (detector or segmentor) and save ``baked.py`` +
    ``baked.pth``.

    Args:
        config (str): Config of the language-guided model.
        checkpoint (str, optional): Its checkpoint; None (or ``'none'``)
            bakes the initialised weights.
        out_dir (str): Folder for ``baked.py`` and ``baked.pth``.
        vocabulary (str, optional): Prompts separated by full stops; None
            bakes the classes of the config's test split (else the
            checkpoint's) with their label ids, so the stock
            ``tools/test.py`` evaluates the result, each class as the test
            pipeline prompts it (``LoadClassTexts``) when it does.
        atol (float): Tolerance of the equivalence check; nothing is saved
            when the baked model differs by more.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        tuple[str, str]: Paths of the written config and checkpoint.

    A segmentor (a config with ``decode_head``) is baked with
    :func:`bake_segmentor` and checked on its logits; a detector with
    :func:`bake` and checked on its boxes and scores.
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    codebase = 'mmseg' if is_segmentor_config(cfg) else 'mmdet'
    importlib.import_module(f'{codebase}.utils').register_all_modules(
        init_default_scope=True)
    if codebase == 'mmseg':  # as mmseg.apis.init_model
        cfg.model.pretrained = None
    lg_model = importlib.import_module(
        f'{codebase}.registry').MODELS.build(cfg.model)
    meta = {}
    if checkpoint is not None and checkpoint.lower() != 'none':
        state = load_checkpoint(lg_model, checkpoint, map_location='cpu')
        meta = state.get('meta', {})
    else:
        lg_model.init_weights()
    lg_model.eval()

    if vocabulary:
        label_ids = None
    else:
        vocabulary = dataset_classes(cfg, meta)
        if not vocabulary:
            raise ValueError(
                f'No vocabulary given and no dataset classes found in the '
                f'checkpoint meta of {checkpoint!r} or the test dataset of '
                f'{config!r}; give the prompts, e.g. "a cat. a dog".')
        label_ids = list(range(len(vocabulary)))
        # the words the language-guided model reads for those classes
        # (the prompts file's prompts and synonyms), not the bare names
        vocabulary = test_prompts(cfg, len(vocabulary)) or vocabulary

    if codebase == 'mmseg':
        baked, new_cfg, entries = bake_segmentor(lg_model, cfg, vocabulary,
                                                 label_ids)
        diff = max_logit_difference(lg_model, baked, entries)
        print(f'baked {len(entries)} classes; max |logit diff| {diff:.2e}')
        if diff > atol:
            raise RuntimeError(f'The baked segmentor differs from the '
                               f'language-guided one by {diff:.2e} > {atol};'
                               ' not saved.')
    else:
        baked, new_cfg = bake(lg_model, cfg, vocabulary, label_ids)
        box_diff, score_diff = max_difference(lg_model, baked,
                                              baked.vocabulary,
                                              vocabulary_label_ids(baked))
        print(f'baked {len(baked.vocabulary)} classes; max |box diff| '
              f'{box_diff:.2e}, max |score diff| {score_diff:.2e}')
        if box_diff > atol or score_diff > atol:
            raise RuntimeError(f'The baked model differs from the language-'
                               f'guided one by more than {atol}; not saved.')
        entries = list(baked.vocabulary)

    os.makedirs(out_dir, exist_ok=True)
    cfg_path = osp.join(out_dir, 'baked.py')
    ckpt_path = osp.join(out_dir, 'baked.pth')
    new_cfg.load_from = ckpt_path
    new_cfg.dump(cfg_path)
    save_checkpoint(
        dict(
            state_dict=baked.state_dict(),
            meta=dict(
                dataset_meta=dict(baked.dataset_meta),
                baked_vocabulary=entries)), ckpt_path)
    print(f'saved {cfg_path} and {ckpt_path}')
    return cfg_path, ckpt_path
