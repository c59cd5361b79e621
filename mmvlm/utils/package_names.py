"""Config bases (``mmdet::``, ``mmseg::``) under re-published codebases."""
from importlib import metadata
from typing import Dict


def map_renamed_distributions() -> Dict[str, str]:
    """Point mmengine's ``module -> distribution`` map at what is installed.

    mmengine finds the files of ``mmseg::_base_/...`` through the
    distribution that should provide the module (``mmsegmentation``).
    Re-published builds of the same modules under other distribution names
    (e.g. ``onedl-mmsegmentation`` providing ``mmseg``) make every such
    config stop with "mmsegmentation is not installed". For each module
    whose distribution is missing, this maps it to the installed
    distribution that provides the module; the upstream names are left
    alone.

    Returns:
        dict[str, str]: The modules remapped (module -> distribution).
    """
    from mmengine.config import utils as config_utils
    table = getattr(config_utils, 'MODULE2PACKAGE', None)
    if not isinstance(table, dict):
        return {}
    providers = None
    changed = {}
    for module, dist in list(table.items()):
        try:
            metadata.version(dist)
            continue
        except metadata.PackageNotFoundError:
            pass
        if providers is None:
            providers = metadata.packages_distributions()
        found = providers.get(module)
        if found:
            table[module] = changed[module] = found[0]
    return changed
