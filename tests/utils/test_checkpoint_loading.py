"""mmengine checkpoints load with torch's weights_only=True after import."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import mmvlm  # noqa: F401  (allow-lists on import)
from mmvlm.utils import restricted_getattr


def test_mmengine_style_checkpoint_loads_weights_only(tmp_path):
    hub = MessageHub.get_instance('test-checkpoint-loading')
    for value in (1.0, 2.0, 4.0):
        hub.update_scalar('train/loss', value)
    checkpoint = dict(
        meta=dict(epoch=1, seed=np.int64(3), mean=np.float64(0.5)),
        state_dict=dict(w=torch.ones(2)),
        message_hub=hub.state_dict())
    path = tmp_path / 'iter_1.pth'
    torch.save(checkpoint, path)
    loaded = torch.load(path, map_location='cpu', weights_only=True)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(7 / 3)
    assert loaded['meta']['seed'] == 3
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2))


class _SneakyGetattr:
    """Pickles as ``getattr(HistoryBuffer, '__init__')``."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


def test_other_getattr_calls_stay_refused(tmp_path):
    path = tmp_path / 'sneaky.pth'
    torch.save({'x': _SneakyGetattr()}, path, pickle_protocol=2)
    with pytest.raises((pickle.UnpicklingError, RuntimeError),
                       match='Refusing getattr'):
        torch.load(path, weights_only=True)
    with pytest.raises(RuntimeError, match="'__init__'"):
        restricted_getattr(HistoryBuffer, '__init__')
    assert restricted_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
