"""Who holds something, and whether that holder is gone: one rule for leases and upload folders.

A holder token names the holder's host, process id and process namespace (the boot id and the
PID namespace together say where a pid means that process), plus a random part. A process on
the same machine and namespace can then see that the holder has exited and take over at once;
a holder anywhere else is never judged dead (its lease expires, its folder ages out).
"""

from __future__ import annotations

import functools
import os
import secrets
import socket
from pathlib import Path

__all__ = ["holder_is_dead", "holder_token", "process_namespace"]


@functools.cache
def process_namespace() -> str:
    """Where a pid names one process: this boot of this machine and this PID namespace."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12]
        namespace = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return "unknown"
    return f"{boot}.{namespace}"


def holder_token() -> str:
    """A fresh token for this process: host, pid and namespace (for people, and for
    ``holder_is_dead``), and a random part that makes it ours alone."""
    return f"{socket.gethostname()}:{os.getpid()}:{process_namespace()}:{secrets.token_hex(8)}"


def holder_is_dead(token: str) -> bool:
    """True only when ``token`` names a process in this machine's namespace that is gone."""
    parts = token.split(":")
    if len(parts) != 4 or not parts[1].isascii() or not parts[1].isdecimal():
        return False  # a token of another version or a hand-made one: never judged
    host, pid, namespace = parts[0], int(parts[1]), parts[2]
    if host != socket.gethostname() or namespace != process_namespace() or namespace == "unknown":
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no such process
    return state in ("Z", "X")  # exited, not yet reaped by its parent
