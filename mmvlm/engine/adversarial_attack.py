"""FGSM / PGD perturbations of a batch, in pixel units.

Design notes: ``docs/design.md`` (module notes)."""
from typing import Callable, Optional, Sequence, Tuple

import torch
from torch import nn


def pixel_scale(data_preprocessor: nn.Module, num_channels: int,
                device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(mean, std)`` of the preprocessor as ``(1, C, 1, 1)`` tensors.

    Args:
        data_preprocessor (nn.Module): mmdet / mmseg data preprocessor
            (``mean`` / ``std`` buffers when it normalises).
        num_channels (int): C of the batch.
        device (torch.device): Device of the batch.

    Returns:
        tuple[Tensor, Tensor]: Mean and std; 0 and 1 when the preprocessor
        does not normalise.
    """
    mean, std = torch.zeros(num_channels), torch.ones(num_channels)
    if getattr(data_preprocessor, '_enable_normalize', False):
        mean = data_preprocessor.mean.detach().flatten().cpu()
        std = data_preprocessor.std.detach().flatten().cpu()
    shape = (1, num_channels, 1, 1)
    return (mean.view(shape).to(device).float(),
            std.view(shape).to(device).float())


def image_mask(inputs: torch.Tensor,
               data_samples: Optional[Sequence]) -> torch.Tensor:
    """1 on the image, 0 on the padding added by the preprocessor.

    Args:
        inputs (Tensor): The batch, ``(B, C, H, W)``.
        data_samples (Sequence, optional): Their samples (``img_shape`` in
            the metainfo); None: no padding.

    Returns:
        Tensor: ``(B, 1, H, W)``.
    """
    mask = torch.ones_like(inputs[:, :1])
    for i, sample in enumerate(data_samples or []):
        shape = getattr(sample, 'metainfo', {}).get('img_shape')
        if shape is not None:
            mask[i, :, int(shape[0]):] = 0
            mask[i, :, :, int(shape[1]):] = 0
    return mask


def perturb(loss_fn: Callable[[torch.Tensor], torch.Tensor],
            inputs: torch.Tensor,
            mean: torch.Tensor,
            std: torch.Tensor,
            epsilon: float,
            steps: int = 1,
            step_size: Optional[float] = None,
            random_start: bool = False,
            mask: Optional[torch.Tensor] = None,
            generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Perturb normalised images to raise ``loss_fn`` (FGSM / PGD).

    Args:
        loss_fn (Callable): Normalised ``(B, C, H, W)`` images -> a scalar
            loss to maximise.
        inputs (Tensor): Normalised images, ``(B, C, H, W)``.
        mean (Tensor): ``(1, C, 1, 1)`` normalisation mean (pixel units).
        std (Tensor): ``(1, C, 1, 1)`` normalisation std (pixel units).
        epsilon (float): L-infinity bound of the perturbation, in pixel
            units (0-255) before normalisation.
        steps (int): Signed-gradient steps (1 with ``step_size=epsilon``
            and no random start: FGSM).
        step_size (float, optional): Step in pixel units; None:
            ``2.5 * epsilon / steps``.
        random_start (bool): Start from a uniform point of the ball (PGD).
        mask (Tensor, optional): ``(B, 1, H, W)``, 0 where not to perturb
            (padding).
        generator (torch.Generator, optional): For the random start.

    Returns:
        Tensor: The perturbed normalised images (detached), as ``inputs``.
    """
    if epsilon <= 0 or steps < 1:
        return inputs.detach()
    step = 2.5 * epsilon / steps if step_size is None else step_size
    eps = epsilon / std
    alpha = step / std
    lower, upper = (0 - mean) / std, (255 - mean) / std
    mask = torch.ones_like(inputs[:, :1]) if mask is None else mask
    inputs = inputs.detach().float()
    delta = torch.zeros_like(inputs)
    if random_start:
        noise = torch.rand(inputs.shape, generator=generator,
                           device='cpu').to(inputs.device)
        delta = (noise * 2 - 1) * eps

    def project(delta):
        delta = torch.maximum(torch.minimum(delta, eps), -eps)
        adv = torch.maximum(torch.minimum(inputs + delta, upper), lower)
        return (adv - inputs) * mask

    delta = project(delta)
    for _ in range(int(steps)):
        delta.requires_grad_(True)
        loss = loss_fn(inputs + delta)
        grad, = torch.autograd.grad(loss, delta)
        delta = project(delta.detach() + alpha * grad.sign())
    return (inputs + delta).detach()
