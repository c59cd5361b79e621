"""mmdet 3.3's GLIP and Grounding-DINO, stepped on request (a subprocess).

Design notes: ``docs/design.md`` (module notes)."""
import json
import os
import os.path as osp
import sys
import traceback
from typing import Callable, Dict, List

import torch

from mmvlm.benchmarks.timing import configure_memory, model_bytes, timed_step

GLIP_CONFIG = 'glip/glip_atss_swin-t_b_fpn_dyhead_16xb2_ms-2x_funtune_coco.py'
GDINO_CONFIG = 'grounding_dino/grounding_dino_r50_scratch_8xb2_1x_coco.py'
#: Grounding-DINO's chunk of names per pass in mmdet's LVIS configs.
GDINO_CHUNKED_SIZE = 40


def resnet_widths(depth: int) -> List[int]:
    """Output channels of the four ResNet stages."""
    return [64, 128, 256, 512] if depth < 50 else [256, 512, 1024, 2048]


def glip_config(depth: int, lm_dir: str, num_layers=None):
    """mmdet's GLIP-T(B) fine-tuning recipe (deep fusion, ``early_fuse``).

    The Swin-T backbone is replaced by the ResNet of the LG-ATSS side with
    the same FPN levels (strides 8-128); the BERT folder goes in both
    places mmdet reads it. Gradient checkpointing is off (the LG-ATSS side
    has none either; it trades time for memory).
    """
    import mmdet
    from mmengine.config import Config
    cfg = Config.fromfile(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', GLIP_CONFIG))
    model = cfg.model
    model.backbone = dict(type='ResNet',
                          depth=depth,
                          num_stages=4,
                          out_indices=(1, 2, 3),
                          frozen_stages=1,
                          norm_cfg=dict(type='BN', requires_grad=True),
                          norm_eval=True,
                          style='pytorch')
    model.neck.in_channels = resnet_widths(depth)[1:]
    model.language_model.name = lm_dir
    model.bbox_head.lang_model_name = lm_dir
    model.bbox_head.use_checkpoint = False
    if num_layers:
        model.bbox_head.num_dyhead_blocks = num_layers
    return cfg


def gdino_config(depth: int, lm_dir: str, num_layers=None,
                 num_queries=None):
    """mmdet's Grounding-DINO (R50 recipe) with its LVIS chunked inference.

    ``chunked_size=40`` as in mmdet's LVIS configs; activation checkpoints
    (``num_cp``, which needs fairscale) are off, as on the LG-ATSS side.
    """
    import mmdet
    from mmengine.config import Config
    cfg = Config.fromfile(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs',
                 GDINO_CONFIG))
    model = cfg.model
    model.backbone.depth = depth
    model.backbone.init_cfg = None
    model.neck.in_channels = resnet_widths(depth)[1:]
    model.language_model.name = lm_dir
    model.test_cfg = dict(model.get('test_cfg', {}),
                          max_per_img=300,
                          chunked_size=GDINO_CHUNKED_SIZE)
    model.encoder.num_cp = -1  # activation checkpoints need fairscale
    if num_layers:
        model.encoder.num_layers = num_layers
        model.decoder.num_layers = num_layers
    if num_queries:  # small images have fewer encoder tokens than 900
        model.num_queries = num_queries
    return cfg


def make_batch(names, batch: int, size: int, train: bool, seed: int = 0):
    """Random images with boxes; the names as the samples' ``text``."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch):
        sample = DetDataSample(metainfo=dict(img_shape=(size, size),
                                             ori_shape=(size, size),
                                             scale_factor=(1.0, 1.0),
                                             text=tuple(names),
                                             custom_entities=True))
        xy = torch.rand(5, 2, generator=gen) * size / 2
        wh = 16 + torch.rand(5, 2, generator=gen) * size / 3
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, (xy + wh).clamp(max=size)], 1),
            labels=torch.randint(0, len(names), (5, ), generator=gen))
        inputs.append(
            torch.randint(0, 255, (3, size, size),
                          generator=gen,
                          dtype=torch.uint8))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


class Worker:
    """Models and steps of one reference process."""

    def __init__(self) -> None:
        self.models: Dict[str, torch.nn.Module] = {}
        self.steps: Dict[str, Callable[[], None]] = {}
        self.device = 'cpu'

    def bert(self, folder: str, tokenizer_dir: str, num_layers: int) -> dict:
        """A randomly initialised BERT-base (768 wide) for GLIP.

        GLIP's ``VLFuse`` is built with BERT-base's 768-wide text features,
        so MiniLM (384) does not fit there; its uncased WordPiece vocabulary
        (the same as BERT-base's) is copied as the tokenizer.
        """
        import shutil
        from transformers import BertConfig, BertModel
        config = BertConfig(hidden_size=768,
                            num_hidden_layers=num_layers,
                            num_attention_heads=12,
                            intermediate_size=3072)
        torch.manual_seed(0)
        BertModel(config, add_pooling_layer=False).save_pretrained(folder)
        for name in ('vocab.txt', 'tokenizer.json', 'tokenizer_config.json',
                     'special_tokens_map.json'):
            if osp.exists(osp.join(tokenizer_dir, name)):
                shutil.copy(osp.join(tokenizer_dir, name), folder)
        return dict(folder=folder)

    def build(self, model: str, depth: int, lm_dir: str, num_layers=None,
              num_queries=None, device: str = 'cpu') -> dict:
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
        register_all_modules(init_default_scope=True)
        if model == 'glip':
            cfg = glip_config(depth, lm_dir, num_layers)
        else:
            cfg = gdino_config(depth, lm_dir, num_layers, num_queries)
        torch.manual_seed(0)
        net = MODELS.build(cfg.model)
        net.init_weights()
        self.device = device
        self.models[model] = net.to(device)
        return dict(model_bytes=model_bytes(net))

    def data(self, key: str, model: str, names, batch: int, size: int,
             train: bool) -> dict:
        import copy
        net = self.models[model]
        data = make_batch(names, batch, size, train)
        if train:
            net.train()
            optimizer = torch.optim.SGD(
                [p for p in net.parameters() if p.requires_grad], lr=1e-4)

            def step():
                batch_ = net.data_preprocessor(copy.deepcopy(data), True)
                losses = net.loss(batch_['inputs'], batch_['data_samples'])
                loss, _ = net.parse_losses(losses)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        else:

            def step():
                net.eval()
                with torch.no_grad():
                    net.test_step(copy.deepcopy(data))

        self.steps[key] = step
        return {}

    def step(self, key: str) -> dict:
        seconds, peak = timed_step(self.steps[key], self.device)
        return dict(seconds=seconds, peak_bytes=peak)


def main() -> None:
    """Serve JSON commands until ``quit`` or end of input."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), 'w', buffering=1)
    sys.stdout = sys.stderr  # library prints must not corrupt the protocol
    threads = os.environ.get('MMVLM_BENCH_THREADS')
    if threads:
        torch.set_num_threads(int(threads))
    configure_memory()
    worker = Worker()
    protocol.write(json.dumps(dict(ok=True, ready=True)) + '\n')
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        cmd = request.pop('cmd')
        if cmd == 'quit':
            break
        try:
            answer = getattr(worker, cmd)(**request)
            answer['ok'] = True
        except Exception:  # reported to the benchmark, which goes on
            answer = dict(ok=False, error=traceback.format_exc())
        protocol.write(json.dumps(answer) + '\n')


if __name__ == '__main__':
    main()
