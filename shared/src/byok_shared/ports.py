"""Ports for local servers (nats-server nodes, OpenBao, the gateway, metrics):
free ones to bind, and whether one is bound or listening."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

__all__ = ["bindable", "free_port", "port_open"]


def _ephemeral_low() -> int:
    """The first port of the kernel's range for outgoing connections (32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_HANDED: set[int] = set()


def bindable(port: int) -> bool:
    """Whether a server could bind ``port`` on 127.0.0.1 now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(block: int = 1) -> int:
    """A free port (the first of ``block`` consecutive free ports) for a server to bind.

    Chosen below the kernel's ephemeral range: a port there is never handed to some
    client's outgoing connection between this check and the server's own bind (the
    race that made a cluster node exit with "address already in use")."""
    high = _ephemeral_low() - block
    if high > 12_000:
        for _ in range(200):
            first = 10_000 + secrets.randbelow(high - 10_000)
            ports = range(first, first + block)
            if not _HANDED.isdisjoint(ports) or not all(bindable(p) for p in ports):
                continue
            _HANDED.update(ports)  # not handed out twice before its server binds it
            if len(_HANDED) > 4_000:
                _HANDED.clear()
            return first
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
