"""Nothing in securetune reaches the network: the test suite itself enforces it."""

import socket

import pytest
from pytest_socket import SocketBlockedError


def test_the_socket_guard_blocks_network_connections() -> None:
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_a_full_workspace_session_opens_no_socket(run, notes) -> None:
    # pytest-socket would raise SocketBlockedError (failing the command) on any socket use.
    assert run("init").exit_code == 0
    assert run("data", "add", str(notes), "--name", "n").exit_code == 0
    assert run("audit", "verify").exit_code == 0
