"""Run an mmvlm ONNX export on one image without PyTorch: imports numpy,
onnxruntime, Pillow, tokenizers (text mode), the export's mmvlm_runtime."""
import argparse
import json
import sys

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument('export_dir', help='folder written by export_onnx.py')
parser.add_argument('image', help='image file')
parser.add_argument('--prompts', nargs='+', help='new vocabulary (text mode)')
parser.add_argument('--score-thr', type=float, default=0.3)
args = parser.parse_args()
sys.path.insert(0, args.export_dir)  # the runtime travels with the export
import mmvlm_runtime as rt  # noqa: E402

model = rt.load_model(args.export_dir)
text_mode = model.meta['mode'] == 'text'
names = args.prompts or model.meta.get('default_vocabulary') or model.classes
text = rt.TextEncoder(args.export_dir)(names) if text_mode else None
name_of = dict(
    zip(range(len(names)) if text_mode else model.meta['label_ids'], names))
out = model(rt.read_image(args.image), text)
if isinstance(out, dict):  # detector: one JSON line per box
    for box, score, label in zip(out['bboxes'], out['scores'], out['labels']):
        if score >= args.score_thr:
            row = dict(box=[round(float(v), 1) for v in box],
                       score=round(float(score), 4),
                       label=name_of[int(label)])
            print(json.dumps(row))
else:  # segmentor: pixels per class
    ids, counts = rt.np.unique(out, return_counts=True)
    print(json.dumps({name_of[int(i)]: int(c) for i, c in zip(ids, counts)}))
