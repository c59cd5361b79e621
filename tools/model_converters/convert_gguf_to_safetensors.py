"""Convert a GGUF language model once into a local safetensors folder.

Later loads skip the dequantisation (about 1 s instead of 13-20 s for
SmolLM2-135M). Library: ``mmvlm.models.text_encoders.gguf_conversion``.

Usage::

    # the offline SmolLM2 package -> ~/.cache/mmvlm/smollm2-135m-instruct
    python tools/model_converters/convert_gguf_to_safetensors.py

    # any GGUF file -> any folder
    python tools/model_converters/convert_gguf_to_safetensors.py \\
        path/to/model.gguf --out DIR
"""
import argparse
from typing import Optional, Sequence


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
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


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    from mmvlm.models.text_encoders.gguf_conversion import (
        convert, resolve_gguf_source)
    try:
        folder, gguf_file, out = resolve_gguf_source(args.source, args.out)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(str(e))
    convert(folder, gguf_file, out, args.dtype, args.force)


if __name__ == '__main__':
    main()
