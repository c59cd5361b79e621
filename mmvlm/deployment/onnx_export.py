"""Export language-guided detectors, segmentors and text encoders to ONNX.

Design notes: ``docs/design.md`` (module notes)."""
import copy
import json
import os
import os.path as osp
import shutil
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from torch import nn

from mmvlm.apis.bake_vocabulary import bake, bake_decode_head, max_difference
from mmvlm.apis.model_loading import (init_language_guided_model,
                                      test_dataset_cfg)
from mmvlm.apis.model_vocabulary import (class_names, temporary_vocabulary,
                                         vocabulary_label_ids)
from mmvlm.models.text_encoders.prompt_learners import ClassPromptPrefix
from mmvlm.structures import Vocabulary

from . import runtime
from .export_graphs import (DenseDetectorGraph, SegmentorGraph,
                            TextEncoderGraph, dense_output_names,
                            make_traceable)
from .runtime_meta import decode_head_meta, dense_head_meta, preprocess_meta

#: File name of the runtime module inside an export folder.
RUNTIME_FILE = 'mmvlm_runtime.py'
MODES = ('baked', 'text')
#: ONNX opset of the exports.
OPSET_VERSION = 17
#: ``torch.onnx.export``'s dynamic axes: input / output name -> axis names.
DynamicAxes = Dict[str, Dict[int, str]]


def is_segmentor_config(cfg: Config) -> bool:
    """Whether a config describes a segmentor (it has a decode head)."""
    return 'decode_head' in cfg.model


def load_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               cfg_options: Optional[dict] = None) -> Tuple[nn.Module, str]:
    """Build a language-guided (or baked) model on the CPU for export.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): Checkpoint; None (or ``'none'``) keeps
            the initialised weights.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        tuple[nn.Module, str]: The model (eval mode, with ``cfg``) and its
        task, ``'detection'`` or ``'segmentation'``.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if checkpoint is not None and checkpoint.lower() == 'none':
        checkpoint = None
    segmentor = is_segmentor_config(cfg)
    model = init_language_guided_model(cfg,
                                       'mmseg' if segmentor else 'mmdet',
                                       checkpoint,
                                       'cpu',
                                       cfg_options,
                                       meta_from_config=True)
    return model.eval(), 'segmentation' if segmentor else 'detection'


def default_vocabulary(model: nn.Module) -> Tuple[List, List[int]]:
    """The model's vocabulary: baked / configured, else the dataset classes
    of the checkpoint, else those of the config's test dataset (its
    ``metainfo``, else the registered dataset type's).

    Returns:
        tuple[list, list[int]]: Entries and their label ids.
    """
    vocab = getattr(model, 'vocabulary', None)
    if vocab is None:
        dataset = test_dataset_cfg(getattr(model, 'cfg', None) or Config())
        if dataset.get('type'):
            try:
                vocab = Vocabulary.parse(dataset['type'])
            except (KeyError, ValueError):
                vocab = None
    if vocab is None:
        raise ValueError(
            'The model has no vocabulary (no configured vocabulary, no '
            'dataset classes in the checkpoint or the test dataset); give '
            'the prompts, e.g. vocabulary="a cat. a dog".')
    return list(vocab.entries), list(vocab.label_ids)


def _check_text_neck(model: nn.Module) -> Optional[nn.Module]:
    """The inner visual neck of a language-guided model's LLMPrefixNeck."""
    neck = model.neck
    for key in ('fusion', 'visual_projector'):
        if getattr(neck, key, None) is not None:
            raise ValueError(
                f'The model\'s LLMPrefixNeck has {key} set: the text then '
                'changes the visual features, so the detector cannot run '
                'from fixed class embeddings. Export a model trained with '
                'fusion=None and visual_prefix=None.')
    return neck.neck


# ------------------------------------------------------------ detectors
def _dense_head(model: nn.Module) -> nn.Module:
    if getattr(model, 'roi_head',
               None) is not None or not hasattr(model, 'bbox_head'):
        raise NotImplementedError(
            f'{type(model).__name__} is not a one-stage detector; the ONNX '
            'export supports dense heads (ATSS, RetinaNet, FCOS). Two-stage '
            'detectors (Faster R-CNN) are not supported yet '
            '(docs/deployment.md).')
    return model.bbox_head


def detector_graph(model: nn.Module, mode: str, vocabulary: Optional[List],
                   label_ids: Optional[List[int]],
                   atol: float) -> Tuple[DenseDetectorGraph, dict]:
    """The detector graph and its vocabulary metadata.

    Args:
        model (nn.Module): A language-guided or baked detector.
        mode (str): ``'baked'`` or ``'text'``.
        vocabulary (list, optional): Entries to bake (None: the model's).
        label_ids (list[int], optional): Their label ids.
        atol (float): Tolerance of the baking equivalence check.

    Returns:
        tuple[DenseDetectorGraph, dict]: The graph and ``classes``,
        ``label_ids`` (and ``bake_check`` when baked here).
    """
    head = _dense_head(model)
    info = {}
    if mode == 'text':
        if not model.with_text_neck:
            raise ValueError('--mode text needs a language-guided model (with '
                             'LLMPrefixNeck); this one is baked.')
        graph = DenseDetectorGraph(model.backbone,
                                   _check_text_neck(model),
                                   head,
                                   text_input=True)
        return graph, info
    if model.with_text_neck:
        if vocabulary is None:
            vocabulary, label_ids = default_vocabulary(model)
        _check_text_neck(model)
        baked, _ = bake(model, model.cfg, vocabulary, label_ids)
        box, score = max_difference(model, baked, baked.vocabulary,
                                    vocabulary_label_ids(baked))
        info['bake_check'] = dict(max_box_diff=box, max_score_diff=score)
        if box > atol or score > atol:
            raise RuntimeError(
                f'The baked detector differs from the language-guided one '
                f'(boxes {box:.2e}, scores {score:.2e} > {atol}); not '
                'exported.')
        model = baked
    elif vocabulary is not None:
        raise ValueError('The model is already baked; its vocabulary '
                         f'{class_names(model)} cannot be changed.')
    entries = list(model.vocabulary.entries)
    info.update(classes=class_names(model),
                vocabulary=_json_entries(entries),
                label_ids=vocabulary_label_ids(model)
                or list(range(len(entries))))
    neck = model.neck if getattr(model, 'with_neck', False) else None
    return DenseDetectorGraph(model.backbone, neck, _dense_head(model)), info


# ----------------------------------------------------------- segmentors
@torch.no_grad()
def segmentor_graph(
    model: nn.Module,
    mode: str,
    vocabulary: Optional[List],
    label_ids: Optional[List[int]],
    atol: float,
    size: Tuple[int, int] = (96, 80)) -> Tuple[SegmentorGraph, dict]:
    """The segmentor graph; baked mode bakes a copy of the decode head (with
    :func:`mmvlm.apis.bake_vocabulary.bake_decode_head`, as the checkpoint
    baking does) and checks that the graph's logits equal the model's on a
    random image.

    Args and returns as :func:`detector_graph`; ``size`` is the check
    image's ``(H, W)``.
    """
    test_mode = (getattr(model, 'test_cfg', None) or {}).get('mode', 'whole')
    if test_mode != 'whole':
        raise ValueError(
            f"model.test_cfg.mode='{test_mode}': the ONNX runtime runs "
            'whole-image inference only. Export with --cfg-options '
            'model.test_cfg.mode=whole (and check the accuracy of whole-'
            'image inference for this model).')
    neck = _check_text_neck(model)
    if mode == 'text':
        return SegmentorGraph(model.backbone,
                              neck,
                              model.decode_head,
                              text_input=True), {}
    if vocabulary is None:
        vocabulary, label_ids = default_vocabulary(model)
    vocab = Vocabulary.parse(vocabulary, label_ids)
    entries, ids = list(vocab.entries), list(vocab.label_ids)
    head = bake_decode_head(model, entries)  # a baked copy
    graph = SegmentorGraph(model.backbone, neck, head).eval()
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, *size, generator=gen) * 255
    inputs = model.data_preprocessor(dict(inputs=[image[0]]))['inputs']
    meta = dict(img_shape=size, ori_shape=size, pad_shape=size)
    with temporary_vocabulary(model, entries, ids):
        ref = model.encode_decode(inputs, [meta])
    diff = float((graph(inputs) - ref).abs().max())
    if diff > atol:
        raise RuntimeError(f'The baked decode head differs from the '
                           f'language-guided model by {diff:.2e} > {atol}; '
                           'not exported.')
    names = [e if isinstance(e, str) else e[0] for e in entries]
    return graph, dict(classes=names,
                       vocabulary=_json_entries(entries),
                       label_ids=ids,
                       bake_check=dict(max_logit_diff=diff))


def _json_entries(entries: Sequence) -> List:
    """Vocabulary entries as JSON values (a synonym tuple -> a list)."""
    return [e if isinstance(e, str) else list(e) for e in entries]


# ---------------------------------------------------------- text encoder
def text_encoder_spec(encoder: nn.Module) -> dict:
    """Tokenisation settings of an ``HFTextEncoder`` for the runtime."""
    tokenizer = encoder.tokenizer
    prompt_tok = encoder.prompt_tokenizer
    return dict(onnx='text_encoder.onnx',
                tokenizer='tokenizer.json',
                templates=list(encoder.templates),
                max_length=int(encoder.max_length),
                num_reserved=int(encoder.prefix_length),
                append_eos=bool(prompt_tok.append_eos),
                eos_id=prompt_tok.eos_id,
                special_ids=[int(i) for i in tokenizer.all_special_ids],
                pad_id=int(tokenizer.pad_token_id or 0),
                embed_dims=int(encoder.embed_dims),
                language_model=str(encoder.name_or_path))


def _check_text_encoder(encoder: nn.Module) -> int:
    """Refuse what the exported text encoder cannot reproduce; return the
    head length (1 when sequences start with CLS / BOS)."""
    if isinstance(encoder.prompt_prefix, ClassPromptPrefix):
        raise NotImplementedError(
            'Class-specific prompt prefixes (prefix_classes) are not '
            'exported; export a model with a shared prefix.')
    if encoder.kv_prefix is not None:
        raise NotImplementedError('Deep prefixes (deep_prefix_length > 0) '
                                  'are not exported.')
    if not hasattr(encoder.tokenizer, 'backend_tokenizer'):
        raise NotImplementedError(
            f'The tokenizer {type(encoder.tokenizer).__name__} has no '
            '`tokenizers` backend (tokenizer.json), which the runtime '
            'needs; use a fast tokenizer.')
    prompt_tok = encoder.prompt_tokenizer
    heads = {
        prompt_tok.head_length(ids)
        for ids in prompt_tok(['a', 'two words'])
    }
    if len(heads) != 1:
        raise NotImplementedError('The tokenizer adds a head token to some '
                                  'prompts only; not exported.')
    return heads.pop()


@torch.no_grad()
def export_text_encoder(encoder: nn.Module,
                        out_dir: str,
                        check_prompts: Sequence[str] = (
                            'tree', 'a red car parked on the street'),
                        opset_version: int = OPSET_VERSION) -> dict:
    """Export an ``HFTextEncoder`` (LM + prefix + projection) to ONNX.

    Writes ``text_encoder.onnx`` and ``tokenizer.json`` into ``out_dir``.

    Args:
        encoder (nn.Module): A built ``HFTextEncoder``.
        out_dir (str): Output folder.
        check_prompts (Sequence[str]): Prompts embedded by both the
            encoder and the export; the lowest cosine is recorded
            (``export_check``) and must be at least 1 - 1e-4.
        opset_version (int): ONNX opset.

    Returns:
        dict: The ``text_encoder`` entry of ``meta.json``.
    """
    encoder.eval()
    head_length = _check_text_encoder(encoder)
    graph = TextEncoderGraph(encoder, head_length).eval()
    spec = text_encoder_spec(encoder)
    encoder.tokenizer.backend_tokenizer.save(
        osp.join(out_dir, spec['tokenizer']))
    ids = encoder.prompt_tokenizer(list(check_prompts))
    width = max(len(s) for s in ids)
    input_ids = torch.full((len(ids), width), spec['pad_id'])
    mask = torch.zeros(len(ids), width, dtype=torch.long)
    for i, seq in enumerate(ids):
        input_ids[i, :len(seq)] = torch.tensor(seq)
        mask[i, :len(seq)] = 1
    sequences = {0: 'prompts', 1: 'tokens'}
    path = osp.join(out_dir, spec['onnx'])
    _onnx_export(
        graph, (input_ids, mask), path, ['input_ids', 'attention_mask'],
        ['prompt_embeds'],
        dict(input_ids=sequences,
             attention_mask=sequences,
             prompt_embeds={0: 'prompts'}), opset_version)
    session = runtime.inference_session(path)
    got = session.run(
        None, dict(input_ids=input_ids.numpy(),
                   attention_mask=mask.numpy()))[0]
    want = torch.nn.functional.normalize(
        encoder.projection(encoder.encode_prompts(list(check_prompts))),
        dim=-1).numpy()  # per prompt, templates not applied
    cosine = (got * want).sum(-1) / (np.linalg.norm(got, axis=-1) *
                                     np.linalg.norm(want, axis=-1))
    spec['export_check'] = dict(min_cosine=float(cosine.min()))
    if cosine.min() < 1 - 1e-4:
        raise RuntimeError(f'The exported text encoder differs from PyTorch '
                           f'(cosine {cosine.min():.6f} < 1 - 1e-4).')
    return spec


def export_text_encoder_folder(encoder: nn.Module, out_dir: str) -> dict:
    """A self-contained export of a text encoder alone: the ONNX file,
    ``tokenizer.json``, ``meta.json`` and the runtime module.

    Args:
        encoder (nn.Module): A built ``HFTextEncoder``.
        out_dir (str): Output folder (created).

    Returns:
        dict: The written ``meta.json`` content.
    """
    os.makedirs(out_dir, exist_ok=True)
    meta = dict(format_version=runtime.FORMAT_VERSION,
                task='text_encoder',
                mode='text',
                text_encoder=export_text_encoder(encoder, out_dir))
    _write_folder(meta, out_dir)
    return meta


def _write_folder(meta: dict, out_dir: str) -> None:
    """Copy the runtime module, then record what the runtime verifies and
    write ``meta.json`` (atomically: a temporary file, then ``os.replace``).

    Recorded for every file of the export (the graphs, ``tokenizer.json``,
    ``mmvlm_runtime.py``): its size (``files``) and SHA-256 (``sha256``);
    for every graph its input / output signature (``signature``).
    """
    shutil.copyfile(runtime.__file__, osp.join(out_dir, RUNTIME_FILE))
    names = [meta.get('onnx')]
    spec = meta.get('text_encoder') or {}
    names += [spec.get('onnx'), spec.get('tokenizer'), RUNTIME_FILE]
    names = [n for n in names if n]
    meta['files'] = {n: osp.getsize(osp.join(out_dir, n)) for n in names}
    meta['sha256'] = {
        n: runtime.sha256_of(osp.join(out_dir, n))
        for n in names
    }
    meta['signature'] = {
        n: runtime.graph_signature(
            runtime.inference_session(osp.join(out_dir, n)))
        for n in names if n.endswith('.onnx')
    }
    path = osp.join(out_dir, runtime.META_FILE)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ------------------------------------------------------------- export
def _onnx_export(graph: nn.Module, args: tuple, path: str,
                 input_names: List[str], output_names: List[str],
                 dynamic_axes: DynamicAxes, opset_version: int) -> None:
    """``torch.onnx.export`` with the TorchScript exporter.

    The torch.export-based exporter (the default since torch 2.9) needs the
    ``onnxscript`` package; the TorchScript one traces these graphs with
    dynamic batch, image size and vocabulary size and needs only ``onnx``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # tracer / deprecation warnings
        torch.onnx.export(graph,
                          args,
                          path,
                          dynamo=False,
                          input_names=input_names,
                          output_names=output_names,
                          dynamic_axes=dynamic_axes,
                          opset_version=opset_version,
                          do_constant_folding=True)


def _sample_size(meta: dict) -> Tuple[int, int]:
    """A traced input size that is not any real image size (so nothing
    input-dependent is folded into a constant by accident)."""
    divisor = meta['preprocess'].get('size_divisor') or 32
    return (divisor * 5, divisor * 6)


def export_onnx(config: Union[str, Config],
                out_dir: str,
                checkpoint: Optional[str] = None,
                mode: str = 'baked',
                vocabulary: Optional[Union[str, Sequence]] = None,
                cfg_options: Optional[dict] = None,
                atol: float = 1e-4,
                opset_version: int = OPSET_VERSION,
                model: Optional[nn.Module] = None) -> dict:
    """Export a detector or segmentor (and, in text mode, its text encoder).

    Args:
        config (str | Config): Config of the language-guided (or baked)
            model.
        out_dir (str): Export folder (created).
        checkpoint (str, optional): Checkpoint; None keeps the initialised
            weights (latency measurements, tests).
        mode (str): ``'baked'`` (vocabulary fixed in the graph) or
            ``'text'`` (class embeddings are an input; the text encoder is
            exported too).
        vocabulary (str | Sequence, optional): Baked mode: the entries to
            bake (prompts separated by full stops, or a list); default the
            model's vocabulary / dataset classes with their label ids.
            Text mode: recorded as the default vocabulary.
        cfg_options (dict, optional): Overrides merged into the config.
        atol (float): Tolerance of the baking check and of the ONNX-vs-
            PyTorch check of the raw outputs.
        opset_version (int): ONNX opset.
        model (nn.Module, optional): An already built model (then
            ``config`` / ``checkpoint`` only name it in ``meta.json``).

    Returns:
        dict: The written ``meta.json`` content.
    """
    if mode not in MODES:
        raise ValueError(f'mode={mode!r}; use one of {MODES}.')
    if model is None:
        model, task = load_model(config, checkpoint, cfg_options)
    else:
        task = 'segmentation' if hasattr(model, 'decode_head') else \
            'detection'
    cfg = model.cfg
    label_ids = None
    if vocabulary is not None:
        vocab = Vocabulary.parse(vocabulary)
        vocabulary, label_ids = list(vocab.entries), list(vocab.label_ids)
    os.makedirs(out_dir, exist_ok=True)
    meta = dict(format_version=runtime.FORMAT_VERSION,
                task=task,
                mode=mode,
                onnx=f'{task}.onnx',
                config=config if isinstance(config, str) else None,
                checkpoint=checkpoint,
                preprocess=preprocess_meta(model, cfg))
    if task == 'detection':
        graph, info = detector_graph(model, mode, vocabulary, label_ids, atol)
        meta['head'] = dense_head_meta(graph.head, _num_groups(graph, meta))
        names = dense_output_names(_num_groups(graph, meta),
                                   meta['head']['num_levels'])
    else:
        graph, info = segmentor_graph(model, mode, vocabulary, label_ids, atol)
        meta['head'] = decode_head_meta(graph.head)
        names = ['seg_logits']
    meta.update(info)
    graph = make_traceable(copy.deepcopy(graph)).eval()
    inputs = torch.rand(1, 3, *_sample_size(meta)) * 255
    args, input_names = (inputs, ), ['inputs']
    axes = {'inputs': {0: 'batch', 2: 'height', 3: 'width'}}
    if mode == 'text':
        encoder = model.neck.text_encoder
        entries = vocabulary or default_vocabulary(model)[0]
        meta['default_vocabulary'] = _json_entries(entries)
        with torch.no_grad():
            text = model.vocabulary_embeddings(entries)
        args += (text, )
        input_names.append('text_embeds')
        axes['text_embeds'] = {0: 'classes'}
        meta['text_encoder'] = export_text_encoder(encoder,
                                                   out_dir,
                                                   opset_version=opset_version)
    for name in names:
        axes[name] = {0: 'batch', 2: f'{name}_height', 3: f'{name}_width'}
    path = osp.join(out_dir, meta['onnx'])
    with torch.no_grad():
        _onnx_export(graph, args, path, input_names, names, axes,
                     opset_version)
    meta['onnx_check'] = check_raw_outputs(graph, path, args, atol)
    _write_folder(meta, out_dir)
    runtime.check_graph(out_dir, meta, meta['signature'][meta['onnx']])
    return meta


def _num_groups(graph: DenseDetectorGraph, meta: dict) -> int:
    """Output kinds of the dense head (2, or 3 with a score factor)."""
    if not hasattr(graph, '_num_groups'):
        size = _sample_size(meta)
        text = None
        if graph.text_input:
            text = torch.nn.functional.normalize(torch.rand(
                2, graph.head.classifier.embed_dims),
                                                 dim=-1)
        with torch.no_grad():
            graph.eval()
            feats = graph.backbone(torch.zeros(1, 3, *size))
            if graph.neck is not None:
                feats = graph.neck(feats)
            if text is not None:
                graph.head.classifier.set_text(text)
            try:
                graph._num_groups = len(graph.head(feats))
            finally:
                if text is not None:
                    graph.head.classifier.clear_text()
    return graph._num_groups


@torch.no_grad()
def check_raw_outputs(graph: nn.Module, path: str, args: tuple,
                      atol: float) -> dict:
    """Run the ONNX file and the graph on a batch of two images of another
    size than the traced one; raise when outputs differ by more than
    ``atol`` (relative to their scale).

    Returns:
        dict: ``max_abs_diff`` and the checked input shape.
    """
    import onnxruntime
    inputs = args[0]
    _, channels, height, width = inputs.shape
    gen = torch.Generator().manual_seed(1)
    batch = torch.rand(2, channels, height + 32, width - 32,
                       generator=gen) * 255
    feeds = {'inputs': batch.numpy()}
    call = (batch, )
    if len(args) > 1:
        text = args[1][:max(1, args[1].shape[0] - 1)]
        feeds['text_embeds'] = text.numpy()
        call += (text, )
    ref = graph(*call)
    ref = [ref] if isinstance(ref, torch.Tensor) else list(ref)
    session = onnxruntime.InferenceSession(path,
                                           providers=['CPUExecutionProvider'])
    try:
        outs = session.run(None, feeds)
    except Exception as e:  # onnxruntime's own exception types
        raise RuntimeError(
            f'The exported graph fails on a {tuple(batch.shape)} input '
            f'although it was traced on {tuple(inputs.shape)}: the model '
            'computes a size in Python, which tracing freezes (e.g. the '
            'MiT backbone of Segformer). Such models are not exportable '
            f'with dynamic sizes (docs/deployment.md). onnxruntime: {e}'
        ) from e
    diff = 0.0
    for got, want in zip(outs, ref):
        want = want.numpy()
        if got.shape != want.shape:
            raise RuntimeError(f'ONNX output shape {got.shape} differs from '
                               f'PyTorch {want.shape}: a size was traced as '
                               'a constant.')
        scale = max(1.0, float(np.abs(want).max()))
        diff = max(diff, float(np.abs(got - want).max()) / scale)
    if diff > atol:
        raise RuntimeError(f'ONNX outputs differ from PyTorch by {diff:.2e} '
                           f'(relative) > {atol}.')
    return dict(max_rel_diff=diff, input_shape=list(batch.shape))
