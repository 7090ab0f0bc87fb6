"""Who may steer a node: the control token (docs/protocol.md, "Control channel authentication").

Without CURVE, anyone who can reach a control endpoint could send `stop`, `bias` or `save_state`. So a
node that has a token (environment, set by the supervisor) answers only `ping` and `stats` to a request
without it; every other command must carry it (``token`` in the command body), or it is refused and
counted (``commands_refused``). `spikestream run` makes a fresh random token per run, in a file readable
by its user only (``WORKDIR/control.token``), and hands its path to every node it starts; `spikestream
cmd` reads it from ``--token-file`` or the same environment variables. With CURVE keys the links are
already authenticated (only authorized client keys connect), so no token is made; one given in the
environment is still enforced.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Mapping

ENV_TOKEN = "SPIKESTREAM_CONTROL_TOKEN"
ENV_TOKEN_FILE = "SPIKESTREAM_CONTROL_TOKEN_FILE"
OPEN_COMMANDS = frozenset({"ping", "stats", "help"})  # read-only, answered without a token
TOKEN_FILE = "control.token"

log = logging.getLogger("spikestream.auth")


def read_token_file(path: str | os.PathLike) -> str:
    """The token in `path`. A ValueError if unreadable, empty, or readable by other users (like ssh keys)."""
    p = Path(path)
    try:
        st = p.stat()
        text = p.read_text().strip()
    except OSError as e:
        raise ValueError(f"control token file {p}: {e.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"control token file {p} is accessible to other users (mode {stat.S_IMODE(st.st_mode):o}); "
                         "chmod 600 it")
    if not text:
        raise ValueError(f"control token file {p} is empty")
    return text


def token_from_env(environ: Mapping[str, str] = os.environ, token_file: str | None = None) -> str | None:
    """The control token: from `token_file`, else $SPIKESTREAM_CONTROL_TOKEN, else the file named by
    $SPIKESTREAM_CONTROL_TOKEN_FILE; None when there is none."""
    if token_file:
        return read_token_file(token_file)
    if environ.get(ENV_TOKEN):
        return environ[ENV_TOKEN]
    if environ.get(ENV_TOKEN_FILE):
        return read_token_file(environ[ENV_TOKEN_FILE])
    return None


def pipeline_env(workdir: str | os.PathLike, curve: bool, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment for a pipeline's node processes. Unless a token is already given (the environment)
    or CURVE authenticates the links, make a fresh one in ``workdir/control.token`` (mode 0600)."""
    env = dict(environ)
    if environ.get(ENV_TOKEN) or environ.get(ENV_TOKEN_FILE) or curve:
        return env
    path = Path(workdir) / TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(secrets.token_urlsafe(32) + "\n")
    log.info("control commands other than ping and stats need the token in %s (spikestream cmd --token-file %s)",
             path, path)
    env[ENV_TOKEN_FILE] = str(path.resolve())
    return env


def allowed(cmd: str, given: str, expected: str | None) -> bool:
    """Whether a command may run: always without a token configured, else `ping`/`stats`/`help` or the right
    token."""
    return expected is None or cmd in OPEN_COMMANDS or hmac.compare_digest(given.encode(), expected.encode())
