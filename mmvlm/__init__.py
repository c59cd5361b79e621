"""mmvlm: language-guided detection and segmentation for OpenMMLab.

``custom_imports=dict(imports=['mmvlm'])`` in an mmdet 3.x or mmsegmentation
1.x config imports this package, which registers every mmvlm component into
the registries of the installed codebases.
"""
from .version import __version__
from .utils.checkpoint_loading import allow_mmengine_checkpoints
from .utils.package_names import map_renamed_distributions

# Checkpoints written by mmengine load under torch>=2.6's weights_only default.
allow_mmengine_checkpoints()
# mmdet:: / mmseg:: config bases also resolve under re-published codebases.
map_renamed_distributions()
from . import models  # noqa: F401,E402  (registers components)
from . import datasets  # noqa
from . import evaluation  # noqa
from . import engine  # noqa

__all__ = ['__version__']
