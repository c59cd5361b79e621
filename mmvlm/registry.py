"""Registries of mmvlm.

mmvlm has no registry tree of its own: its components are registered straight
into the registries of the OpenMMLab codebases it plugs into, so a config
with ``default_scope='mmdet'``, ``'mmseg'`` or ``'mmpretrain'`` finds
them by their bare ``type`` name after
``custom_imports=dict(imports=['mmvlm'])``.

The registrars, one per registry that mmvlm registers into:

- ``MODELS``, ``TRANSFORMS``, ``DATASETS``: register into every installed
  codebase (mmdet, mmseg and/or mmpretrain). Use them for components that
  work on every side (text encoders, necks, classifier layers, transforms,
  datasets).
- ``DET_MODELS``, ``DET_METRICS``: register into mmdet only (detectors and
  their heads, the open-vocabulary COCO metric).
- ``SEG_MODELS``, ``SEG_DATASETS``, ``SEG_METRICS``: register into mmseg
  only (segmentors, decode heads, medical datasets, the open-vocabulary IoU
  metric).

- ``CLS_MODELS``: register into mmpretrain only (image classifiers and
  their heads).
- ``HOOKS``: register into every installed codebase (training hooks such
  as ``FiniteCheckHook``).

A registrar for another registry is one line, ``MultiRegistrar('KIND')``,
added with the first component that needs it.

A side that is not installed is skipped silently, so ``import mmvlm`` works
with any one of mmdet / mmseg / mmpretrain present; a side that is installed
but fails to import raises (:func:`codebase_available`).
"""
import functools
import importlib
from typing import Callable, List, Optional, Sequence, Type, Union

from mmengine.registry import Registry

#: Codebases served by mmvlm's launchers (tools/train.py, tools/test.py).
CODEBASES = ('mmdet', 'mmseg')
#: Codebases mmvlm registers into, in registration order: mmpretrain models
#: are trained with mmpretrain's own tools (docs/image_level.md).
REGISTRY_SCOPES = CODEBASES + ('mmpretrain', )


@functools.lru_cache(maxsize=None)
def codebase_available(scope: str) -> bool:
    """Whether the OpenMMLab codebase ``scope`` ('mmdet' / 'mmseg' /
    'mmpretrain') is installed.

    Only a codebase that is not installed at all is an absent side: the
    import of ``<scope>.registry`` raising ``ModuleNotFoundError`` for the
    package ``scope`` itself. Any other failure (a missing dependency of
    the codebase, a version assert, a syntax error in a patched file) is a
    broken installation: it is raised, naming the import error, instead of
    silently leaving every component of that side unregistered.

    Args:
        scope (str): Package name of the codebase.

    Returns:
        bool: True when ``<scope>.registry`` imports, False when the
        package ``scope`` is not installed.

    Raises:
        ImportError: ``scope`` is installed but ``<scope>.registry`` does
            not import.
    """
    try:
        importlib.import_module(f'{scope}.registry')
    except ModuleNotFoundError as err:
        if err.name == scope:
            return False
        raise ImportError(_broken_codebase_message(scope, err)) from err
    except Exception as err:  # a version assert, a failing dependency...
        raise ImportError(_broken_codebase_message(scope, err)) from err
    return True


def _broken_codebase_message(scope: str, err: BaseException) -> str:
    return (f'{scope} is installed but {scope}.registry does not import: '
            f'{type(err).__name__}: {err}. mmvlm does not skip a broken '
            f'codebase (its components would silently be missing from the '
            f'registries). Repair the environment (bash tools/setup_env.sh '
            f'installs the pinned versions) or uninstall {scope}.')


class MultiRegistrar:
    """Register one class into the same-named registry of several codebases.

    It mimics :meth:`mmengine.Registry.register_module`, so it can be used as
    ``@MODELS.register_module()`` exactly like an OpenMMLab registry.

    Args:
        kind (str): Registry attribute name in ``<codebase>.registry``,
            e.g. ``'MODELS'`` or ``'TRANSFORMS'``.
        scopes (Sequence[str]): Codebases to register into; those not
            installed are skipped.
    """

    def __init__(self,
                 kind: str,
                 scopes: Sequence[str] = REGISTRY_SCOPES) -> None:
        self.kind = kind
        self.scopes = tuple(scopes)

    @property
    def registries(self) -> List[Registry]:
        """The registries of the installed codebases among ``scopes``."""
        found = []
        for scope in self.scopes:
            if codebase_available(scope):
                module = importlib.import_module(f'{scope}.registry')
                found.append(getattr(module, self.kind))
        return found

    def register_module(self,
                        name: Optional[Union[str, List[str]]] = None,
                        force: bool = False,
                        module: Optional[Type] = None) -> Callable:
        """Register ``module`` (or the decorated class) in every registry.

        Args:
            name (str | list[str], optional): Registered name(s); defaults to
                the class name.
            force (bool): Overwrite an existing entry of the same name.
            module (type, optional): Class to register directly.

        Returns:
            Callable: A decorator when ``module`` is None, else ``module``.
        """

        def _register(cls: Type) -> Type:
            for registry in self.registries:
                registry.register_module(name=name, force=force, module=cls)
            return cls

        if module is not None:
            return _register(module)
        return _register

    def __repr__(self) -> str:
        names = [f'{r.scope}.{r.name}' for r in self.registries]
        return f'{self.__class__.__name__}({self.kind} -> {names})'


MODELS = MultiRegistrar('MODELS')
TRANSFORMS = MultiRegistrar('TRANSFORMS')
DATASETS = MultiRegistrar('DATASETS')
HOOKS = MultiRegistrar('HOOKS')

DET_MODELS = MultiRegistrar('MODELS', ('mmdet', ))
DET_METRICS = MultiRegistrar('METRICS', ('mmdet', ))

SEG_MODELS = MultiRegistrar('MODELS', ('mmseg', ))
SEG_DATASETS = MultiRegistrar('DATASETS', ('mmseg', ))
SEG_METRICS = MultiRegistrar('METRICS', ('mmseg', ))

CLS_MODELS = MultiRegistrar('MODELS', ('mmpretrain', ))
