"""Helpers for tests that run kccsync as a real process."""

from __future__ import annotations

import subprocess


def reap(proc: subprocess.Popen[bytes]) -> None:
    """Kill `proc` if it still runs and close its pipes (no leaked fds or zombies)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
