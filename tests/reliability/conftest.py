"""Fixtures of the reliability tests."""
import socket

import pytest


class NetworkCalled(RuntimeError):
    """A test tried to open a network connection."""


@pytest.fixture
def no_network(monkeypatch):
    """Make every outgoing connection fail, and record the attempts.

    Patches ``socket.socket.connect`` / ``connect_ex`` and
    ``socket.create_connection`` (what ``requests``, ``urllib3``, ``httpx``
    and ``huggingface_hub`` end in) and sets ``HF_HUB_OFFLINE=1``.

    Returns:
        list: The refused connection attempts (empty when none was made).
    """
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args[1:] if args else kwargs)
        raise NetworkCalled(f'network call during the test: {args[1:]}')

    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket.socket, 'connect_ex', refuse)
    monkeypatch.setattr(socket, 'create_connection',
                        lambda *a, **k: refuse(None, *a, **k))
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv('TRANSFORMERS_OFFLINE', '1')
    return calls
