"""deploy/container/Containerfile, checked for structure without a container engine (CI has none; the build
itself was run by hand, see docs/devices.md): instructions parse, the image runs as a non-root user that
also owns the Numba cache the build's `spikestream warmup` fills, the CMD and HEALTHCHECK are commands our
own CLI accepts, and the context rules keep .venv out but let in everything the COPY lines name."""

import fnmatch
import json
import re
import shlex
from pathlib import Path

from spikestream.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "deploy" / "container" / "Containerfile"
IGNORE = ROOT / "deploy" / "container" / "Containerfile.dockerignore"


def instructions():
    """(KEYWORD, argument text) per instruction: comments dropped, continuation lines joined."""
    out, cur = [], ""
    for line in RECIPE.read_text().splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        cur += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            kw, _, rest = cur.strip().partition(" ")
            out.append((kw.upper(), rest.strip()))
            cur = ""
    assert not cur, "a continuation line runs off the end"
    return out


def exec_form(text):
    v = json.loads(text)
    assert isinstance(v, list) and all(isinstance(x, str) for x in v), text
    return v


def test_instructions_are_known_and_the_base_has_python_311():
    ins = instructions()
    known = {"ARG", "FROM", "RUN", "COPY", "ENV", "USER", "WORKDIR", "HEALTHCHECK", "STOPSIGNAL", "ENTRYPOINT", "CMD"}
    assert {k for k, _ in ins} <= known
    assert ins[0][0] == "ARG" and ins[1][0] == "FROM" and sum(k == "FROM" for k, _ in ins) == 1
    base = dict(a.split("=", 1) for k, a in ins if k == "ARG" and "=" in a)["BASE"]
    assert ins[1][1] == "${BASE}" and base == "debian:bookworm-slim"  # Debian 12: Python 3.11, multi-arch image


def test_runs_as_a_non_root_user_who_owns_the_warmed_cache():
    ins = instructions()
    users = [(i, a) for i, (k, a) in enumerate(ins) if k == "USER"]
    assert users and users[-1][1] == "spikestream" and all(a not in ("root", "0") for _, a in users)
    setup = " ".join(a for k, a in ins if k == "RUN")
    assert re.search(r"useradd --system --uid 10001 .*spikestream", setup)
    assert re.search(r"install -d -o spikestream -g spikestream .*/var/cache/spikestream", setup)
    env = " ".join(a for k, a in ins if k == "ENV")
    assert "NUMBA_CACHE_DIR=/var/cache/spikestream/numba" in env and "NUMBA_CPU_NAME=" in env
    warm = [i for i, (k, a) in enumerate(ins) if k == "RUN" and "spikestream warmup" in a]
    env_at = max(i for i, (k, a) in enumerate(ins) if k == "ENV" and "NUMBA_CACHE_DIR" in a)
    assert warm and users[-1][0] < warm[0] and env_at < warm[0]  # written by the user who reads it, where it reads
    last = max(i for i, (k, _) in enumerate(ins) if k in ("CMD", "ENTRYPOINT", "HEALTHCHECK"))
    assert users[-1][0] < last


def test_cmd_and_healthcheck_are_commands_our_cli_accepts():
    ins = dict((k, a) for k, a in instructions() if k in ("ENTRYPOINT", "CMD", "HEALTHCHECK"))
    assert exec_form(ins["ENTRYPOINT"]) == ["spikestream"]
    run = build_parser().parse_args(exec_form(ins["CMD"]))
    assert run.command == "run" and run.no_view and run.workdir == "/var/lib/spikestream"
    m = re.fullmatch(r"(--\S+\s+)*CMD\s+(\[.*\])", ins["HEALTHCHECK"])
    assert m, ins["HEALTHCHECK"]
    hc = exec_form(m.group(2))
    assert hc[0] == "spikestream"
    top = build_parser().parse_args(hc[1:])
    assert top.command == "top" and top.once and top.workdir == run.workdir and top.targets == [run.pipeline]


def _ignored(rel: str, rules: list[str]) -> bool:
    """Docker's rules: later lines win, '!' re-includes, a rule matching a folder covers what is inside."""
    out = False
    parts = rel.split("/")
    for r in rules:
        neg = r.startswith("!")
        pat = r[1:] if neg else r
        hit = any(fnmatch.fnmatch("/".join(parts[:i]), pat) or (pat.startswith("**/") and fnmatch.fnmatch(
            "/".join(parts[:i]), pat[3:])) or pat == "**" for i in range(1, len(parts) + 1))
        if hit:
            out = not neg
    return out


def test_the_context_rules_keep_the_venv_out_and_let_the_copied_sources_in():
    rules = [x.strip() for x in IGNORE.read_text().splitlines() if x.strip() and not x.startswith("#")]
    copies = [shlex.split(a)[:-1] for k, a in instructions() if k == "COPY"]
    sources = [s for c in copies for s in c]
    assert set(sources) == {"pyproject.toml", "README.md", "spikestream", "nodes", "deploy"}
    for s in sources:
        assert (ROOT / s).exists() and not _ignored(s, rules), s
    assert not _ignored("spikestream/runtime/top.py", rules) and not _ignored("deploy/demo.toml", rules)
    for junk in (".venv/bin/python", "build/lib/x.py", "spikestream/__pycache__/cli.cpython-311.pyc", ".git/HEAD",
                 "tests/record/test_edf.py", "deploy/container/Containerfile"):
        assert _ignored(junk, rules), junk
