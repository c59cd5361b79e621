"""AtomicCheckpointHook: mmengine's ``CheckpointHook`` whose checkpoints are
never half-written, and the lookup that ``--resume`` uses.

Design notes: ``docs/design.md`` (module notes)."""
import contextlib
import os
import os.path as osp
import re
import shutil
import zipfile
from collections import deque
from typing import Iterator, List, NamedTuple, Optional

from mmengine.dist import (barrier, broadcast_object_list, get_world_size,
                           is_main_process)
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.runner import Runner

from mmvlm.registry import HOOKS

#: Hidden temporary names: ``.<final name>.tmp-<pid>``.
TMP_PATTERN = re.compile(r'^\.(?P<final>.+)\.tmp-(?P<pid>\d+)$')
#: Names of the periodic checkpoints (``filename_tmpl`` of mmengine).
STEP_PATTERN = re.compile(r'^(?:iter|epoch)_(?P<step>\d+)\.pth$')


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the message names the path and
    says which checkpoint was kept."""


def fsync_path(path: str) -> None:
    """Flush a file or a folder to the storage device.

    Args:
        path (str): A file or a folder.
    """
    flags = os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0) if osp.isdir(
        path) else os.O_RDONLY
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_atomically(tmp: str, final: str) -> None:
    """Move a fully written ``tmp`` onto ``final`` (same folder).

    ``tmp`` is fsynced first, so that after the rename the data is on the
    device, and the folder is fsynced afterwards, so that the rename is.

    Args:
        tmp (str): The written temporary file (or folder).
        final (str): Its final path.
    """
    if osp.isfile(tmp):
        fsync_path(tmp)
    os.replace(tmp, final)
    fsync_path(osp.dirname(osp.abspath(final)))


def write_text_atomically(path: str, text: str) -> None:
    """Write a small text file so that readers see the old or the new text,
    never an empty or partial one.

    Args:
        path (str): Destination.
        text (str): Its new content.
    """
    tmp = osp.join(osp.dirname(path) or '.',
                   f'.{osp.basename(path)}.tmp-{os.getpid()}')
    try:
        with open(tmp, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        replace_atomically(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def is_complete_checkpoint(path: str, verify_crc: bool = True) -> bool:
    """Whether ``path`` is a whole checkpoint.

    torch writes a zip archive whose central directory comes last, so a
    truncated file does not open; with ``verify_crc`` every member's CRC is
    checked too (one read of the file). A folder (DeepSpeed) counts as
    complete when it is not empty.

    Args:
        path (str): Checkpoint file or folder.
        verify_crc (bool): Also check the CRC of every member.

    Returns:
        bool: True when complete.
    """
    if osp.isdir(path):
        return bool(os.listdir(path))
    if not osp.isfile(path) or osp.getsize(path) == 0:
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return not verify_crc or archive.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return False


def _ranked_checkpoints(folder: str) -> List[str]:
    """Checkpoints of a folder, newest first (step number, then mtime);
    hidden, temporary and ``best_*`` files are left out."""
    found = []
    for name in os.listdir(folder) if osp.isdir(folder) else []:
        if name.startswith('.') or name.startswith('best_') or \
                not name.endswith('.pth'):
            continue
        path = osp.join(folder, name)
        match = STEP_PATTERN.match(name)
        step = int(match.group('step')) if match else -1
        found.append((step, osp.getmtime(path), path))
    return [path for _, _, path in sorted(found, reverse=True)]


class ResumeChoice(NamedTuple):
    """What :func:`find_resumable_checkpoint` chose."""
    #: The checkpoint to resume from (None: nothing to resume from).
    path: Optional[str]
    #: A sentence saying what was chosen and why.
    reason: str
    #: True when ``last_checkpoint`` could not be used as it is.
    fell_back: bool


def find_resumable_checkpoint(work_dir: str) -> ResumeChoice:
    """The checkpoint ``--resume`` (without a path) continues from.

    ``last_checkpoint`` when it names a complete checkpoint; otherwise
    (missing, empty, naming a missing or truncated file) the newest
    complete checkpoint in the work dir and in the folder
    ``last_checkpoint`` names.

    Args:
        work_dir (str): The run's work directory.

    Returns:
        ResumeChoice: The checkpoint (None: nothing to resume from), why,
        and whether ``last_checkpoint`` had to be bypassed.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    named = ''
    if osp.isfile(record):
        with open(record) as f:
            named = f.read().strip()
        if named and is_complete_checkpoint(named):
            return ResumeChoice(named,
                                f'Resuming from {named} (named by {record}).',
                                False)
        if not named:
            why = f'{record} is empty'
        elif not osp.exists(named):
            why = f'{record} names {named}, which does not exist'
        else:
            why = f'{record} names {named}, which is incomplete (truncated)'
    else:
        why = f'there is no {record}'
    folders = [work_dir]
    if named and osp.dirname(named) and \
            osp.abspath(osp.dirname(named)) != osp.abspath(work_dir):
        folders.append(osp.dirname(named))
    skipped = []
    for folder in folders:
        for path in _ranked_checkpoints(folder):
            if is_complete_checkpoint(path):
                note = (f' (skipped incomplete: {", ".join(skipped)})'
                        if skipped else '')
                return ResumeChoice(
                    path, f'{why}; resuming from the newest complete '
                    f'checkpoint {path} instead{note}.', True)
            skipped.append(path)
    note = f' (incomplete: {", ".join(skipped)})' if skipped else ''
    return ResumeChoice(
        None, f'{why}, and {" or ".join(folders)} holds no complete '
        f'checkpoint{note}: training starts from the beginning.', True)


class _DeferredRemovals:
    """A file backend whose ``remove`` / ``rmtree`` only record the path;
    every other attribute is the wrapped backend's."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.paths: List[str] = []

    def remove(self, path: str) -> None:
        self.paths.append(str(path))

    def rmtree(self, path: str) -> None:
        self.paths.append(str(path))

    def __getattr__(self, name: str):
        return getattr(self._backend, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that writes every checkpoint atomically and
    removes old ones only after the new one is in place.

    Same arguments as mmengine's ``CheckpointHook``; in a config::

        default_hooks = dict(checkpoint=dict(
            type='AtomicCheckpointHook', by_epoch=False, interval=1000,
            max_keep_ckpts=1))

    ``mmvlm.utils.load_config`` (used by ``tools/train.py``) turns
    ``type='CheckpointHook'`` into this hook, so stock mmdet / mmseg bases
    get it too.
    """

    def before_train(self, runner) -> None:
        """Set up the backend (mmengine) and clear temporary files that a
        killed run left in the checkpoint folder."""
        super().before_train(runner)
        backend = self.file_backend
        # a FileClient (deprecated file_client_args) wraps its backend
        self._atomic = isinstance(
            getattr(backend, 'client', backend), LocalBackend)
        if not self._atomic:
            runner.logger.warning(
                f'AtomicCheckpointHook: {type(backend).__name__} is not a '
                'local file system; checkpoints are written as '
                "mmengine's CheckpointHook writes them (not atomically).")
            return
        if is_main_process() and osp.isdir(self.out_dir):
            for name in os.listdir(self.out_dir):
                match = TMP_PATTERN.match(name)
                if match and int(match.group('pid')) != os.getpid():
                    self._discard(osp.join(self.out_dir, name))
                    runner.logger.info(
                        f'Removed {name}, an unfinished checkpoint of an '
                        'interrupted run.')

    # ----------------------------------------------------------- writing
    def _write(self, runner, filename: str, **kwargs) -> str:
        """``runner.save_checkpoint`` into a temporary file, then moved onto
        ``out_dir/filename``.

        Returns:
            str: The final path.

        Raises:
            CheckpointWriteError: The write failed (the message names the
                path; the temporary file is removed, nothing is replaced).
        """
        final = osp.join(self.out_dir, filename)
        pid = [os.getpid()]
        if get_world_size() > 1:
            # one name on every rank (strategies may write from each rank)
            broadcast_object_list(pid)
        tmp_name = f'.{filename}.tmp-{pid[0]}'
        tmp = osp.join(self.out_dir, tmp_name)
        try:
            type(runner).save_checkpoint(runner, self.out_dir, tmp_name,
                                         **kwargs)
            if get_world_size() > 1 and not isinstance(runner, Runner):
                barrier()  # strategies may write a folder from every rank
            if is_main_process():
                replace_atomically(tmp, final)
        except OSError as err:
            if is_main_process():
                self._discard(tmp)
            raise CheckpointWriteError(
                err.errno,
                f'Could not write the checkpoint {final} '
                f'({err.strerror or err}). Nothing was replaced: '
                f'{self._kept(runner)} Free space in {self.out_dir} (or set '
                'default_hooks.checkpoint.out_dir to another disk) and '
                'continue with tools/train.py --resume.') from err
        return final

    @staticmethod
    def _discard(path: str) -> None:
        if osp.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif osp.exists(path):
            os.remove(path)

    @staticmethod
    def _kept(runner) -> str:
        """Which checkpoint survives a failed write (for the message)."""
        record = osp.join(runner.work_dir, 'last_checkpoint')
        named = ''
        if osp.isfile(record):
            with open(record) as f:
                named = f.read().strip()
        if named and osp.exists(named):
            return (f'the previous checkpoint {named} is kept and {record} '
                    'still names it.')
        return 'no earlier checkpoint of this run exists.'

    def _remove(self, path: str) -> None:
        if is_main_process() and osp.abspath(path) != osp.abspath(
                self.last_ckpt or ''):
            self._discard(path)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """Write checkpoint ``step`` atomically, point ``last_checkpoint``
        at it, then drop the checkpoints beyond ``max_keep_ckpts``."""
        if not getattr(self, '_atomic', False):
            return super()._save_checkpoint_with_step(runner, step, meta)
        dropped = []
        kept_before = None
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            kept_before = list(self.keep_ckpt_ids)
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                dropped.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            # saved inside the checkpoint: a resumed run knows what to drop
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        previous_last = self.last_ckpt
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        try:
            self._write(
                runner,
                filename,
                file_client_args=self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
        except CheckpointWriteError:
            if kept_before is not None:
                self.keep_ckpt_ids = deque(kept_before, self.max_keep_ckpts)
                runner.message_hub.update_info('keep_ckpt_ids', kept_before)
            self.last_ckpt = previous_last
            runner.message_hub.update_info('last_ckpt', previous_last)
            raise
        if not is_main_process():
            return
        write_text_atomically(
            osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old in dropped:
            self._remove(
                osp.join(self.out_dir, self.filename_tmpl.format(old)))

    @contextlib.contextmanager
    def _atomic_saves(self, runner) -> Iterator[_DeferredRemovals]:
        """Within it, ``runner.save_checkpoint`` writes atomically and the
        hook's removals wait until the block has succeeded."""
        backend = self.file_backend
        deferred = _DeferredRemovals(backend)

        def save_checkpoint(out_dir, filename, file_client_args=None,
                            **kwargs):
            self._write(runner, filename, file_client_args=file_client_args,
                        **kwargs)

        self.file_backend = deferred
        runner.save_checkpoint = save_checkpoint
        try:
            yield deferred
        finally:
            self.file_backend = backend
            del runner.save_checkpoint
        for path in deferred.paths:
            self._remove(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """mmengine's best-checkpoint logic, with the new best written
        atomically before the previous best is removed."""
        if not getattr(self, '_atomic', False):
            return super()._save_best_checkpoint(runner, metrics)
        with self._atomic_saves(runner):
            super()._save_best_checkpoint(runner, metrics)
