"""A fork server for the tests' command lines: ``python -m <module> args`` without paying
for ``import torch, lightning, timm ...`` (~7 s on 2 cores) in every one of them.

Started once per test session by :func:`tests.conftest.run_cli` (a plain Python process
that imports the project's entry points, then waits on a Unix socket). Each request is
served by a fork of it that forks again: the grandchild is the command - a real process
with its own pid, working folder, environment, argv, stdout/stderr files and exit status
(a signal that kills it is reported as such, like ``subprocess`` does) - while the child
waits for it and reports its pid and status. The grandchild runs the module as ``python
-m`` would (``runpy``, ``sys.path[0]`` = its folder) and ends by leaving the interpreter
normally, so atexit handlers, logging shutdown and thread joins happen as in a fresh
process.

What a fork cannot reproduce is what libraries read from the environment while being
imported; :func:`tests.conftest.run_cli` therefore sends here only commands whose
environment equals the tests' own apart from :data:`SETTABLE`, and runs the rest (DDP,
submitit) as real subprocesses. DataLoader workers fork the same kind of process, so
forking after these imports is the ordinary case for torch.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import runpy
import socket
import sys
from pathlib import Path

#: Environment variables a forked command can still honour (applied after the fork).
SETTABLE = frozenset({"PYTHONPATH", "PYTHONUNBUFFERED", "OMP_NUM_THREADS"})
PRELOAD = (
    "sports_rec.train",
    "sports_rec.evaluate",
    "sports_rec.predict",
    "sports_rec.explain",
    "sports_rec.export",
    "sports_rec.report",
)


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _become_the_command(request: dict) -> None:
    """In the grandchild: set up the process as ``python -m`` would and run the module;
    leaving raises SystemExit up through the server's frames to the interpreter's exit."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    unbuffered = bool(request["env"].get("PYTHONUNBUFFERED"))
    sys.stdout = io.TextIOWrapper(
        io.FileIO(1, "w", closefd=False) if unbuffered else open(1, "wb", closefd=False),  # noqa: SIM115
        encoding="utf-8",
        errors="backslashreplace",
        write_through=unbuffered,
        line_buffering=False,
    )
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
        write_through=True,
    )  # fmt: skip
    extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:1] = [request["cwd"], *extra]
    threads = request["env"].get("OMP_NUM_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    sys.argv = [request["module"], *request["args"]]
    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    sys.exit(0)


def _serve(conn: socket.socket) -> None:
    """In the child: start the command, report its pid, wait, report its status."""
    request = json.loads(_read_line(conn))
    pid = os.fork()
    if pid == 0:
        conn.close()
        _become_the_command(request)  # never returns: SystemExit ends this process
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    conn.sendall(json.dumps({"status": status}).encode() + b"\n")
    conn.close()
    os._exit(0)


def main(socket_path: str) -> None:
    root = str(Path(__file__).resolve().parents[1])
    sys.path.insert(0, root)
    for module in PRELOAD:
        importlib.import_module(module)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path)
    server.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        pid = os.fork()
        if pid == 0:
            server.close()
            _serve(conn)
        conn.close()
        _reap()


if __name__ == "__main__":
    main(sys.argv[1])
