"""The web page: type words, see boxes, masks and heat-maps.

Two tabs (detection, segmentation), each with a model list, a switch to
the model's stock twin, an upload box and example scenes, the prompt box
(or a prompts file), score threshold and top-k; the output is the labelled
picture, a table (boxes, or pixel share per prompt), a heat-map per prompt
and a status line that also carries every refusal (a bad input is a
message, never a dead server). Requests wait in Gradio's queue and run one
at a time.

Start it with ``bash tools/run_web_demo.sh`` (loopback address printed);
``python -m projects.web_demo.mmvlm_web_demo.app --help`` lists options.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence

import gradio as gr
import pandas as pd
from mmengine.config import Config

from mmvlm.utils import infer_codebase

from .catalog import (DETECTION, SEGMENTATION, Example, demo_catalog,
                      onnx_entry, user_entry)
from .service import DemoService, Result

#: Address the page listens on (loopback only).
HOST = '127.0.0.1'
PORT = 7860
TITLE = 'mmvlm: language-guided detection and segmentation'
INTRO = (
    'Type what to look for, separated by full stops (`a cat. a red car`), '
    'pick an example scene or upload an image, and press **Run**. The '
    'language-guided model scores every box (or pixel) against the text; '
    'its **stock twin** (same network, a fixed class list instead of text) '
    'can only answer with the names it was trained on. The list under each '
    'tab says which names the model saw in training and which it never '
    'saw: the example scenes hold the latter.')


def _example_label(i: int, example: Example) -> str:
    return f'{i + 1}: {osp.basename(example.path)} — {example.prompts}'


def _build_tab(service: DemoService, task: str) -> None:
    """One tab's controls and outputs, wired to ``service``."""
    tag = 'det' if task == DETECTION else 'seg'
    keys = service.keys(task)
    first = service.entries[keys[0]] if keys else None

    def examples_of(key: Optional[str]) -> List[Example]:
        entry = service.entries.get(key) if key else None
        return entry.examples if entry else []

    with gr.Row():
        with gr.Column(scale=1):
            model = gr.Dropdown(keys, value=keys[0] if keys else None,
                                label='Model', elem_id=f'{tag}-model')
            variant = gr.Radio(
                ['language-guided', 'stock twin'], value='language-guided',
                label='Variant', elem_id=f'{tag}-variant')
            example = gr.Dropdown(
                [_example_label(i, e)
                 for i, e in enumerate(examples_of(keys[0] if keys else
                                                   None))],
                value=None, label='Example scene', elem_id=f'{tag}-example')
            upload = gr.File(label='…or upload an image', type='filepath',
                             elem_id=f'{tag}-upload')
            prompts = gr.Textbox(
                value=first.default_prompts if first else '', lines=3,
                label='Prompts (separated by full stops)',
                placeholder='a cat. a red car', elem_id=f'{tag}-prompts')
            prompts_file = gr.File(
                label='…or a prompts file (.yaml / .json), used instead',
                type='filepath', elem_id=f'{tag}-prompts-file')
            if task == DETECTION:
                score_thr = gr.Slider(0.0, 1.0, value=0.3, step=0.01,
                                      label='Score threshold',
                                      elem_id=f'{tag}-thr')
                top_k = gr.Slider(1, 100, value=30, step=1,
                                  label='Top-k boxes', elem_id=f'{tag}-topk')
            else:
                score_thr = gr.State(0.0)
                top_k = gr.State(100)
            heatmaps = gr.Checkbox(value=True, label='Heat-map per prompt',
                                   elem_id=f'{tag}-heat')
            run = gr.Button('Run', variant='primary', elem_id=f'{tag}-run')
        with gr.Column(scale=2):
            message = gr.Markdown('', elem_id=f'{tag}-message')
            picture = gr.Image(label='Result', type='numpy', format='png',
                               interactive=False, show_label=False,
                               elem_id=f'{tag}-image')
            table = gr.Dataframe(label='Boxes' if task == DETECTION else
                                 'Pixel share per prompt',
                                 interactive=False, elem_id=f'{tag}-table')
            gallery = gr.Gallery(label='Heat-maps', columns=3,
                                 elem_id=f'{tag}-heatmaps')
    names = gr.Markdown(service.describe(keys[0]) if keys else
                        'No model for this task.', elem_id=f'{tag}-names')

    def pick_model(key):
        entry = service.entries.get(key)
        choices = [_example_label(i, e)
                   for i, e in enumerate(examples_of(key))]
        return (gr.update(choices=choices, value=None),
                entry.default_prompts if entry else '',
                service.describe(key))

    model.change(pick_model, model, [example, prompts, names])

    def pick_example(key, label):
        found = examples_of(key)
        if not label:
            return gr.update()
        index = int(label.split(':', 1)[0]) - 1
        return found[index].prompts if 0 <= index < len(found) else ''

    example.change(pick_example, [model, example], prompts)

    def predict(key, variant_name, example_label, upload_path, text,
                file_path, thr, k, heat):
        image_path = upload_path
        if not image_path and example_label:
            found = examples_of(key)
            index = int(example_label.split(':', 1)[0]) - 1
            if 0 <= index < len(found):
                image_path = found[index].path
        result = service.run(key, image_path, text, float(thr), int(k),
                             bool(heat), variant_name == 'stock twin',
                             file_path)
        return _outputs(result)

    run.click(predict, [model, variant, example, upload, prompts,
                        prompts_file, score_thr, top_k, heatmaps],
              [message, picture, table, gallery], api_name=f'run_{tag}')


def _outputs(result: Result):
    table = pd.DataFrame(result.rows, columns=result.headers or None)
    return (result.message, result.image, table,
            [(img, caption) for img, caption in result.heatmaps])


def build_app(service: DemoService) -> gr.Blocks:
    """The page for ``service``'s models.

    Args:
        service (DemoService): Loads and runs the models.

    Returns:
        gr.Blocks: Not yet queued or launched.
    """
    with gr.Blocks(title=TITLE, analytics_enabled=False,
                   delete_cache=(600, 1800)) as app:
        gr.Markdown(f'# {TITLE}\n{INTRO}', elem_id='intro')
        with gr.Tabs():
            with gr.Tab('Detection', elem_id='tab-det'):
                _build_tab(service, DETECTION)
            with gr.Tab('Segmentation', elem_id='tab-seg'):
                _build_tab(service, SEGMENTATION)
    return app


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Web page of mmvlm: type words, see boxes, masks and '
        'heat-maps (serves on the loopback address).')
    parser.add_argument('--work-dir', default=os.environ.get(
        'MMVLM_DEMO_WORK_DIR', 'work_dirs/demo'),
                        help="the main job's work dir (its models are "
                        'offered; default work_dirs/demo)')
    parser.add_argument('--data-root', default=os.environ.get(
        'MMVLM_DEMO_DATA', 'data/demo'),
                        help='the demo data (example scenes)')
    parser.add_argument('--no-demo-models', action='store_true',
                        help="offer only the models given below, not the "
                        "main job's")
    parser.add_argument('--config', action='append', default=[],
                        help='config of a model to add (repeatable; pair '
                        'each with --checkpoint)')
    parser.add_argument('--checkpoint', action='append', default=[],
                        help='checkpoint of the --config at the same '
                        'position')
    parser.add_argument('--onnx', action='append', default=[],
                        help='an ONNX export folder to add (numpy runtime)')
    parser.add_argument('--examples', nargs='*', default=[],
                        help='image files offered as examples for the '
                        'models given here')
    parser.add_argument('--example-prompts', default='',
                        help='prompts filled in for --examples')
    parser.add_argument('--host', default=HOST)
    parser.add_argument('--port', type=int, default=PORT)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    if len(args.checkpoint) > len(args.config):
        parser.error('more --checkpoint than --config')
    return args


def entries_of(args: argparse.Namespace) -> list:
    """The models the command line asks for."""
    examples = [Example(p, args.example_prompts) for p in args.examples]
    entries = []
    for i, config in enumerate(args.config):
        checkpoint = args.checkpoint[i] if i < len(args.checkpoint) else None
        task = (SEGMENTATION if infer_codebase(Config.fromfile(config))
                == 'mmseg' else DETECTION)
        entries.append(user_entry(config, checkpoint, task,
                                  examples=examples))
    for folder in args.onnx:
        task = DETECTION
        meta = osp.join(folder, 'meta.json')
        if osp.isfile(meta):
            with open(meta) as f:
                task = (SEGMENTATION if json.load(f).get('task') ==
                        'segmentation' else DETECTION)
        entries.append(onnx_entry(folder, task, examples=examples))
    if not args.no_demo_models:
        entries += demo_catalog(args.work_dir, args.data_root)
    return entries


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    service = DemoService(entries_of(args), args.device)
    for entry in service.entries.values():
        state = f'missing: {entry.missing}' if entry.missing else \
            entry.checkpoint
        print(f'[web_demo] {entry.key} ({entry.kind} {entry.task}): {state}')
    app = build_app(service)
    app.queue(default_concurrency_limit=1, max_size=64)
    print(f'[web_demo] serving on http://{args.host}:{args.port}/ '
          '(Ctrl-C stops)', flush=True)
    app.launch(server_name=args.host, server_port=args.port,
               max_file_size='60mb', ssr_mode=False, quiet=True,
               footer_links=[], show_error=True)


if __name__ == '__main__':
    sys.exit(main())
