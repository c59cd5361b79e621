"""Run an mmvlm ONNX export on one image without PyTorch: imports numpy,
onnxruntime, Pillow, tokenizers (text mode) and the export's
mmvlm_runtime.py, loaded by its path once its SHA-256 matches meta.json
(the export folder is never put on sys.path, so no file there shadows a
module)."""
import argparse
import hashlib
import importlib.util
import json
import os.path as osp
import sys
from types import ModuleType

RUNTIME_FILE = 'mmvlm_runtime.py'
META_FILE = 'meta.json'


def load_verified_runtime(folder: str) -> ModuleType:
    """Import ``mmvlm_runtime.py`` of ``folder`` by absolute path, from the
    bytes whose SHA-256 equals ``sha256['mmvlm_runtime.py']`` of
    ``meta.json``; raise ``SystemExit`` naming the file otherwise."""
    meta_path = osp.abspath(osp.join(folder, META_FILE))
    path = osp.abspath(osp.join(folder, RUNTIME_FILE))
    try:
        with open(meta_path, encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f'{meta_path} cannot be read ({e}); give the folder '
                         'written by tools/deployment/export_onnx.py.')
    want = (meta.get('sha256') or {}).get(RUNTIME_FILE) if isinstance(
        meta, dict) else None
    if not isinstance(want, str):
        raise SystemExit(
            f'{meta_path} records no field sha256[{RUNTIME_FILE!r}], so '
            f'{path} cannot be verified and is not run; export again with '
            'the installed mmvlm.')
    try:
        with open(path, 'rb') as f:
            source = f.read()
    except OSError as e:
        raise SystemExit(f'{path} cannot be read ({e}).')
    got = hashlib.sha256(source).hexdigest()
    if got != want:
        raise SystemExit(
            f'{path} has SHA-256 {got}, but {meta_path} field '
            f'sha256[{RUNTIME_FILE!r}] is {want}: the runtime was changed '
            'after export and is not run. Export again.')
    spec = importlib.util.spec_from_file_location('mmvlm_runtime', path)
    module = importlib.util.module_from_spec(spec)
    # run the verified bytes, not the file again (it could change between)
    exec(compile(source, path, 'exec'), module.__dict__)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('export_dir', help='folder written by export_onnx.py')
    parser.add_argument('image', help='image file')
    parser.add_argument('--prompts', nargs='+',
                        help='new vocabulary (text mode)')
    parser.add_argument('--score-thr', type=float, default=0.3)
    args = parser.parse_args()
    rt = load_verified_runtime(args.export_dir)
    try:
        model = rt.load_model(args.export_dir)
        text_mode = model.meta['mode'] == 'text'
        names = (args.prompts or model.meta.get('default_vocabulary')
                 or model.classes)
        text = rt.TextEncoder(args.export_dir)(names) if text_mode else None
        name_of = dict(
            zip(range(len(names)) if text_mode else model.meta['label_ids'],
                names))
        out = model(rt.read_image(args.image), text)
    except ValueError as e:  # rt.ExportError and bad inputs: the message
        raise SystemExit(f'run_onnx.py: {e}')
    if isinstance(out, dict):  # detector: one JSON line per box
        for box, score, label in zip(out['bboxes'], out['scores'],
                                     out['labels']):
            if score >= args.score_thr:
                row = dict(box=[round(float(v), 1) for v in box],
                           score=round(float(score), 4),
                           label=name_of[int(label)])
                print(json.dumps(row))
    else:  # segmentor: pixels per class
        ids, counts = rt.np.unique(out, return_counts=True)
        print(json.dumps({name_of[int(i)]: int(c)
                          for i, c in zip(ids, counts)}))


if __name__ == '__main__':
    main()
