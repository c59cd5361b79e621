"""Stop (or skip) non-finite training steps; never checkpoint NaN weights.

Design notes: ``docs/design.md`` (module notes)."""
import math
import types
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict
from mmengine.runner import EpochBasedTrainLoop

from mmvlm.registry import HOOKS

#: How many names a message lists before "and N more".
_MAX_NAMES = 8

FIX = ('Fix: lower the learning rate (optim_wrapper.optimizer.lr, or a '
       'longer param_scheduler warm-up), clip gradients '
       '(optim_wrapper.clip_grad=dict(max_norm=10, norm_type=2)), and check '
       'the data (NaN pixels, degenerate or out-of-image boxes). To skip '
       "such steps instead of stopping, use custom_hooks=[dict(type="
       "'FiniteCheckHook', action='skip')].")


class NonFiniteTrainingError(FloatingPointError):
    """Training produced a non-finite loss, gradient or weight."""


def _names(names: Sequence[str]) -> str:
    """``'a, b, c'`` with at most :data:`_MAX_NAMES` names."""
    shown = ', '.join(names[:_MAX_NAMES])
    if len(names) > _MAX_NAMES:
        shown += f' and {len(names) - _MAX_NAMES} more'
    return shown


def _non_finite_tensors(obj, prefix: str = '') -> List[str]:
    """Names of the floating tensors inside ``obj`` holding inf / NaN.

    Args:
        obj: A tensor, or a dict / list / tuple nesting tensors.
        prefix (str): Name of ``obj``.

    Returns:
        list[str]: Dotted names of the non-finite tensors.
    """
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() and not bool(torch.isfinite(obj).all()):
            return [prefix]
        return []
    found = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            name = f'{prefix}.{key}' if prefix else str(key)
            found += _non_finite_tensors(value, name)
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            found += _non_finite_tensors(value, f'{prefix}.{i}')
    return found


def _all_finite(tensors: Sequence[torch.Tensor]) -> bool:
    """Whether every tensor is finite, with one device synchronisation."""
    if not tensors:
        return True
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


def _as_float(value) -> float:
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().mean())
    return float(value)


class _StepGuard:
    """Wraps one optimizer wrapper's ``update_params`` and ``step``.

    Args:
        optim_wrapper (OptimWrapper): The wrapper to guard.
        param_names (dict[int, str]): ``id(param)`` to parameter name.
        check_grads (bool): Also check the gradients before each step.
    """

    def __init__(self, optim_wrapper: OptimWrapper,
                 param_names: Dict[int, str], check_grads: bool) -> None:
        self.optim_wrapper = optim_wrapper
        self.param_names = param_names
        # GradScaler already skips steps with inf/NaN (scaled) gradients.
        self.check_grads = check_grads and not isinstance(
            optim_wrapper, AmpOptimWrapper)
        self.loss_finite = True
        self.events: List[dict] = []
        self._update_params = optim_wrapper.update_params
        self._step = optim_wrapper.step
        optim_wrapper.update_params = types.MethodType(
            self._guarded_update_params, optim_wrapper)
        optim_wrapper.step = types.MethodType(self._guarded_step,
                                              optim_wrapper)

    def remove(self) -> None:
        """Restore the wrapper's own methods."""
        for name in ('update_params', 'step'):
            self.optim_wrapper.__dict__.pop(name, None)

    def _guarded_update_params(self, _wrapper, loss: torch.Tensor, *args,
                               **kwargs) -> None:
        if isinstance(loss, torch.Tensor):
            finite = bool(torch.isfinite(loss.detach()).all())
        else:
            finite = math.isfinite(float(loss))
        self.loss_finite = self.loss_finite and finite
        # Backward still runs (data-parallel ranks stay in step); ``step``
        # decides whether the gradients are applied.
        self._update_params(loss, *args, **kwargs)

    def _loss_finite_on_every_rank(self) -> bool:
        if get_world_size() == 1:
            return self.loss_finite
        flag = torch.tensor([1.0 if self.loss_finite else 0.0])
        all_reduce(flag, op='min')
        return bool(flag.item() > 0)

    def _non_finite_grads(self) -> List[str]:
        params = [
            p for group in self.optim_wrapper.optimizer.param_groups
            for p in group['params'] if p.grad is not None
        ]
        if _all_finite([p.grad for p in params]):
            return []
        return [
            self.param_names.get(id(p), '<unnamed>') for p in params
            if not bool(torch.isfinite(p.grad).all())
        ]

    def _guarded_step(self, _wrapper, **kwargs) -> None:
        loss_finite = self._loss_finite_on_every_rank()
        self.loss_finite = True
        bad_grads = self._non_finite_grads() if self.check_grads else []
        if loss_finite and not bad_grads:
            self._step(**kwargs)
            return
        # Skipped: no clipping, no optimizer.step; update_params then calls
        # zero_grad, which drops the non-finite gradients.
        self.events.append(
            dict(loss_finite=loss_finite, non_finite_grads=bad_grads))


@HOOKS.register_module()
class FiniteCheckHook(Hook):
    """Stop training (or skip the step) at a non-finite loss or gradient.

    With this hook, a non-finite loss or gradient is never applied to the
    weights, training never goes on silently with NaN weights, and no
    checkpoint with a non-finite tensor is written (so ``max_keep_ckpts``
    never deletes the last finite checkpoint in favour of a NaN one). See
    the module docstring for where the guard sits and why.

    Args:
        action (str): ``'stop'`` raises :class:`NonFiniteTrainingError` at
            the first non-finite loss or gradient (the step itself is not
            applied); ``'skip'`` skips that optimizer step (weights,
            optimizer state and buffers such as BatchNorm statistics
            keep their values from before the iteration), logs a
            warning and goes on. Defaults to ``'stop'``.
        check_grads (bool): Also skip / stop on non-finite gradients with a
            finite loss (not with ``AmpOptimWrapper``, whose loss scaler
            skips those steps itself). Defaults to True.
        param_check_interval (int): Check the trainable parameters and the
            floating buffers every this many iterations (0: never; the
            checkpoint check below still runs). Defaults to 1.
        max_consecutive_skips (int): With ``action='skip'``, stop after this
            many non-finite iterations in a row (the run has diverged).
            Defaults to 10.
    """

    priority = 'VERY_HIGH'  # before LoggerHook and CheckpointHook

    def __init__(self,
                 action: str = 'stop',
                 check_grads: bool = True,
                 param_check_interval: int = 1,
                 max_consecutive_skips: int = 10) -> None:
        if action not in ('stop', 'skip'):
            raise ValueError(f"FiniteCheckHook: action={action!r} is not "
                             "supported; use 'stop' or 'skip'.")
        if int(param_check_interval) < 0:
            raise ValueError('FiniteCheckHook: param_check_interval='
                             f'{param_check_interval!r} must be >= 0 '
                             '(0 disables the per-iteration check).')
        if int(max_consecutive_skips) < 1:
            raise ValueError('FiniteCheckHook: max_consecutive_skips='
                             f'{max_consecutive_skips!r} must be >= 1.')
        self.action = action
        self.check_grads = check_grads
        self.param_check_interval = int(param_check_interval)
        self.max_consecutive_skips = int(max_consecutive_skips)
        self.num_skipped = 0
        self._consecutive = 0
        self._guards: List[_StepGuard] = []
        self._buffers: Optional[Dict[str, torch.Tensor]] = None

    # -- helpers -------------------------------------------------------
    @staticmethod
    def _model(runner) -> torch.nn.Module:
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    @staticmethod
    def _where(runner) -> str:
        text = f'iteration {runner.iter + 1}'
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            text += f' (epoch {runner.epoch + 1})'
        return text

    def _fail(self, runner, message: str) -> None:
        runner.logger.error(message)
        raise NonFiniteTrainingError(message)

    # -- hook points ---------------------------------------------------
    def before_train(self, runner) -> None:
        """Install the step guard on the runner's optimizer wrapper(s)."""
        names = {id(p): n for n, p in self._model(runner).named_parameters()}
        wrapper = runner.optim_wrapper
        wrappers = (list(wrapper.optim_wrappers.values()) if isinstance(
            wrapper, OptimWrapperDict) else [wrapper])
        for item in wrappers:
            if not isinstance(item, OptimWrapper):
                raise TypeError(
                    'FiniteCheckHook guards mmengine OptimWrapper objects; '
                    f'got {type(item).__name__}. Remove the hook or use an '
                    'OptimWrapper subclass.')
            self._guards.append(_StepGuard(item, names, self.check_grads))

    def after_train(self, runner) -> None:
        """Remove the step guards."""
        for guard in self._guards:
            guard.remove()
        self._guards = []

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        """With ``action='skip'``, remember the buffers (BN statistics)."""
        if self.action == 'skip':
            self._buffers = {
                n: b.detach().clone()
                for n, b in self._model(runner).named_buffers()
            }

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        """Stop or warn on a non-finite iteration; check the weights."""
        events = [e for guard in self._guards for e in guard.events]
        for guard in self._guards:
            guard.events = []
        bad_terms = {
            key: _as_float(value)
            for key, value in (outputs or {}).items()
            if isinstance(value, (torch.Tensor, float,
                                  int)) and not math.isfinite(_as_float(value))
        }
        if events or bad_terms:
            self._non_finite_iteration(runner, events, bad_terms)
        else:
            self._consecutive = 0
        if self.param_check_interval and self.every_n_train_iters(
                runner, self.param_check_interval):
            self._check_weights(runner)

    def _non_finite_iteration(self, runner, events: List[dict],
                              bad_terms: Dict[str, float]) -> None:
        terms = ', '.join(f'{k}={v}' for k, v in bad_terms.items())
        grads = [n for e in events for n in e['non_finite_grads']]
        what = []
        if terms:
            what.append(f'non-finite loss terms: {terms}')
        elif any(not e['loss_finite'] for e in events):
            what.append('a non-finite loss on another rank')
        if grads:
            what.append(f'non-finite gradients of {_names(grads)}')
        what = '; '.join(what)
        if not events:
            # The loss was never seen by the guarded optimizer wrapper (a
            # model whose train_step does not call update_params): the
            # step may have been applied, so it cannot be skipped.
            self._fail(
                runner, f'Non-finite training at {self._where(runner)}: '
                f'{what}. The model did not update through the guarded '
                'optimizer wrapper, so the step may have been applied; '
                'training stops before any checkpoint of it is written. '
                f'{FIX}')
        if self.action == 'stop':
            self._fail(
                runner, f'Non-finite training at {self._where(runner)}: '
                f'{what}. The optimizer step of this iteration was not '
                'applied and training stops before any checkpoint is '
                f'written, so the newest checkpoint in {runner.work_dir} '
                f'holds finite weights. {FIX}')
        self.num_skipped += 1
        self._consecutive += 1
        if self._buffers is not None:
            model = self._model(runner)
            with torch.no_grad():
                for name, buffer in model.named_buffers():
                    if name in self._buffers:
                        buffer.copy_(self._buffers[name])
        if self._consecutive >= self.max_consecutive_skips:
            self._fail(
                runner, f'Non-finite training at {self._where(runner)}: '
                f'{what}; {self._consecutive} iterations in a row were '
                'skipped (max_consecutive_skips='
                f'{self.max_consecutive_skips}): the run has diverged. '
                f'{FIX}')
        runner.logger.warning(
            f'FiniteCheckHook: skipped the optimizer step of '
            f'{self._where(runner)} ({what}); {self.num_skipped} skipped so '
            'far.')

    def _check_weights(self, runner) -> None:
        model = self._model(runner)
        tensors = [(n, p) for n, p in model.named_parameters()
                   if p.requires_grad]
        tensors += [(n, b) for n, b in model.named_buffers()
                    if b.is_floating_point()]
        if _all_finite([t.detach() for _, t in tensors]):
            return
        bad = [n for n, t in tensors if not bool(torch.isfinite(t).all())]
        self._fail(
            runner, f'Non-finite weights after {self._where(runner)}: '
            f'{_names(bad)}. Training stops before any checkpoint of them '
            f'is written, so the newest checkpoint in {runner.work_dir} '
            f'holds finite weights. {FIX}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Refuse to write a checkpoint holding a non-finite tensor."""
        bad = _non_finite_tensors({
            k: checkpoint[k]
            for k in ('state_dict', 'optimizer') if k in checkpoint
        })
        if bad:
            self._fail(
                runner, 'FiniteCheckHook: refusing to save a checkpoint at '
                f'{self._where(runner)}: non-finite tensors {_names(bad)}. '
                f'{FIX}')
