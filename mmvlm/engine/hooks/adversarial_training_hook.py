"""Adversarial training and attacked evaluation as mmengine hooks.

Design notes: ``docs/design.md`` (module notes)."""
import functools
from typing import Dict, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmvlm.engine.adversarial_attack import image_mask, perturb, pixel_scale
from mmvlm.registry import HOOKS

ATTACKS = ('fgsm', 'pgd')


def total_loss(losses: Dict) -> torch.Tensor:
    """Sum of the loss terms, as mmengine's ``parse_losses`` sums them."""
    total = 0.
    for name, value in losses.items():
        if 'loss' not in name:
            continue
        if isinstance(value, torch.Tensor):
            total = total + value.mean()
        else:
            total = total + sum(v.mean() for v in value)
    return total


class _Attack:
    """The attack settings shared by the two hooks."""

    def __init__(self, attack: str, epsilon: float, steps: int,
                 step_size: Optional[float], random_start: Optional[bool],
                 seed: int, owner: str):
        if attack not in ATTACKS:
            raise ValueError(f'{owner}: attack={attack!r} is not supported; '
                             f'use one of {ATTACKS}.')
        if not float(epsilon) > 0:
            raise ValueError(f'{owner}: epsilon={epsilon!r} must be > 0 '
                             '(pixel units, 0-255, before normalisation; '
                             'e.g. 2, 4 or 8).')
        if attack == 'fgsm':
            steps, step_size = 1, float(epsilon)
            random_start = bool(random_start)
        if int(steps) < 1:
            raise ValueError(f'{owner}: steps={steps!r} must be >= 1.')
        if step_size is not None and not float(step_size) > 0:
            raise ValueError(f'{owner}: step_size={step_size!r} must be > 0 '
                             '(pixel units) or None (2.5 * epsilon / steps).')
        self.attack = attack
        self.epsilon = float(epsilon)
        self.steps = int(steps)
        self.step_size = None if step_size is None else float(step_size)
        self.random_start = (attack == 'pgd' if random_start is None else
                             bool(random_start))
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, model, loss, inputs, data_samples) -> torch.Tensor:
        """Perturbed copy of ``inputs`` raising ``loss(inputs, samples)``.

        Buffers (BatchNorm statistics) are restored after the attack's
        forward passes, and no parameter gradient is accumulated.
        """
        mean, std = pixel_scale(model.data_preprocessor, inputs.shape[1],
                                inputs.device)
        buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
        with torch.enable_grad():
            adv = perturb(
                lambda x: total_loss(loss(x, data_samples)), inputs, mean,
                std, self.epsilon, self.steps, self.step_size,
                self.random_start, image_mask(inputs, data_samples),
                self.generator)
        with torch.no_grad():
            for name, buf in model.named_buffers():
                if name in buffers:
                    buf.copy_(buffers[name])
        return adv.to(inputs.dtype)

    def describe(self) -> str:
        step = ('2.5*eps/steps' if self.step_size is None else
                f'{self.step_size:g}')
        return (f'{self.attack.upper()} epsilon={self.epsilon:g}/255 px, '
                f'steps={self.steps}, step_size={step}, '
                f'random_start={self.random_start}')


def _unwrap(runner) -> torch.nn.Module:
    model = runner.model
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class AdversarialTrainingHook(Hook):
    """Train on FGSM / PGD-perturbed images in addition to the clean ones.

    In every iteration the first ``round(ratio * B)`` images of the batch
    (at least one; the sampler has shuffled them) are perturbed to raise
    the model's own loss, and their loss is added to the clean loss of the
    whole batch: ``loss = clean + loss_weight * adversarial``.

    Args:
        attack (str): ``'pgd'`` (default) or ``'fgsm'`` (one step of size
            ``epsilon``, no random start).
        epsilon (float): L-infinity bound in pixel units (0-255) before
            normalisation. Defaults to 4.
        steps (int): PGD steps. Defaults to 3.
        step_size (float, optional): PGD step in pixel units; None:
            ``2.5 * epsilon / steps``.
        ratio (float): Part of each batch perturbed, in (0, 1]. Defaults to
            0.5.
        loss_weight (float): Weight of the adversarial loss. Defaults to 1.
        random_start (bool, optional): None: True for PGD, False for FGSM.
        seed (int): Seed of the random starts. Defaults to 0.
    """

    priority = 'NORMAL'

    def __init__(self,
                 attack: str = 'pgd',
                 epsilon: float = 4.,
                 steps: int = 3,
                 step_size: Optional[float] = None,
                 ratio: float = 0.5,
                 loss_weight: float = 1.,
                 random_start: Optional[bool] = None,
                 seed: int = 0) -> None:
        if not 0 < float(ratio) <= 1:
            raise ValueError(f'AdversarialTrainingHook: ratio={ratio!r} '
                             'must be in (0, 1] (the part of each batch '
                             'that is perturbed).')
        if float(loss_weight) < 0:
            raise ValueError('AdversarialTrainingHook: loss_weight='
                             f'{loss_weight!r} must be >= 0.')
        self.attack = _Attack(attack, epsilon, steps, step_size,
                              random_start, seed, 'AdversarialTrainingHook')
        self.ratio = float(ratio)
        self.loss_weight = float(loss_weight)

    def _loss(self, model, loss, inputs, data_samples):
        if not model.training or not isinstance(inputs, torch.Tensor):
            return loss(inputs, data_samples)
        num = max(1, int(round(self.ratio * inputs.shape[0])))
        samples = list(data_samples)[:num]
        # The attack first: it restores the BatchNorm buffers in place,
        # which must not happen between a forward and its backward.
        adv = self.attack(model, loss, inputs[:num], samples)
        losses = loss(inputs, data_samples)
        for name, value in loss(adv, samples).items():
            if 'loss' in name:
                value = ([v * self.loss_weight for v in value] if isinstance(
                    value, (list, tuple)) else value * self.loss_weight)
            losses[f'adv_{name}'] = value
        return losses

    def before_train(self, runner) -> None:
        model = _unwrap(runner)
        model.loss = functools.partial(self._loss, model, model.loss)
        runner.logger.info('AdversarialTrainingHook: '
                           f'{self.attack.describe()}, ratio={self.ratio:g}, '
                           f'loss_weight={self.loss_weight:g}')

    def after_train(self, runner) -> None:
        _unwrap(runner).__dict__.pop('loss', None)


@HOOKS.register_module()
class AdversarialTestHook(Hook):
    """Evaluate (``tools/test.py``, and validation when ``val=True``) on
    images perturbed against the test samples' ground truth.

    Args:
        attack (str): ``'pgd'`` (default) or ``'fgsm'``.
        epsilon (float): L-infinity bound in pixel units. Defaults to 4.
        steps (int): PGD steps. Defaults to 10.
        step_size (float, optional): Pixel units; None:
            ``2.5 * epsilon / steps``.
        random_start (bool, optional): None: True for PGD.
        seed (int): Seed of the random starts. Defaults to 0.
        val (bool): Attack during validation too. Defaults to False.
    """

    priority = 'NORMAL'

    def __init__(self,
                 attack: str = 'pgd',
                 epsilon: float = 4.,
                 steps: int = 10,
                 step_size: Optional[float] = None,
                 random_start: Optional[bool] = None,
                 seed: int = 0,
                 val: bool = False) -> None:
        self.attack = _Attack(attack, epsilon, steps, step_size,
                              random_start, seed, 'AdversarialTestHook')
        self.val = val

    def _predict(self, model, predict, inputs, data_samples, **kwargs):
        adv = self.attack(model, model.loss, inputs, data_samples)
        return predict(adv, data_samples, **kwargs)

    def _wrap(self, runner) -> None:
        model = _unwrap(runner)
        model.predict = functools.partial(self._predict, model,
                                          model.predict)
        runner.logger.info(
            f'AdversarialTestHook: evaluating under {self.attack.describe()}')

    def _unwrap_predict(self, runner) -> None:
        _unwrap(runner).__dict__.pop('predict', None)

    def before_test(self, runner) -> None:
        self._wrap(runner)

    def after_test(self, runner) -> None:
        self._unwrap_predict(runner)

    def before_val(self, runner) -> None:
        if self.val:
            self._wrap(runner)

    def after_val(self, runner) -> None:
        if self.val:
            self._unwrap_predict(runner)
