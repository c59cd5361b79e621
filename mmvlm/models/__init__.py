"""Models of mmvlm. Importing this registers them into mmdet's and/or mmseg's
MODELS registry (see :mod:`mmvlm.registry`); side-specific components are only
imported when their codebase is installed."""
from ..registry import codebase_available
from .backbones import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .text_encoders import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
from . import cls_heads, classifiers  # noqa: F401,E402  (mmpretrain side)

if codebase_available('mmdet'):
    from . import dense_heads, detectors, roi_heads  # noqa: F401

if codebase_available('mmseg'):
    from .decode_heads import *  # noqa: F401,F403
    from .segmentors import *  # noqa: F401,F403
