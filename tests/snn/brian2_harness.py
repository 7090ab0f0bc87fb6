"""Drive Brian2 (its own numpy<2 virtualenv) through a subprocess: arrays in via .npz, arrays out via .npz.

Which Python runs Brian2: ``$SPIKESTREAM_BRIAN2_PYTHON`` (set by ``make test``), else
``<repo>/.venv-brian2/bin/python`` if it exists. Without either, a test asking for Brian2 fails under
``CI=true`` (a CI run must not silently lose the peer comparison) and is skipped locally.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "brian2_scripts"


def brian2_python() -> str | None:
    env = os.environ.get("SPIKESTREAM_BRIAN2_PYTHON")
    if env:
        return env
    fallback = REPO / ".venv-brian2" / "bin" / "python"
    return str(fallback) if fallback.exists() else None


def require_brian2() -> str:
    """The Brian2 interpreter, or fail (CI) / skip (local) with how to get one."""
    py = brian2_python()
    msg = ("Brian2 is not available: set SPIKESTREAM_BRIAN2_PYTHON or run `make brian2-env` "
           "(creates .venv-brian2 with brian2==2.9.0, numpy<2)")
    if py is None or not Path(py).exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + (f"; {py!r} does not exist" if py else ""))
        pytest.skip(msg)
    return py


def run_brian2(script: str, arrays: dict[str, np.ndarray], config: dict, timeout_s: float = 300.0,
               python: str | None = None) -> dict[str, np.ndarray]:
    """Run ``brian2_scripts/<script>`` on `arrays` (+ `config` as JSON); return the arrays it saved.

    Times cross the boundary as int64 microseconds; the script converts to Brian2 units."""
    py = python or require_brian2()
    with tempfile.TemporaryDirectory(prefix="ss-brian2-") as tmp:
        inp, out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inp, config=np.array(json.dumps(config)), **arrays)
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        proc = subprocess.run([py, str(SCRIPTS / script), str(inp), str(out)], capture_output=True,
                              text=True, timeout=timeout_s, env=env, cwd=tmp)
        if proc.returncode != 0:
            raise RuntimeError(f"Brian2 script {script} failed (rc={proc.returncode}):\n"
                               f"{proc.stderr[-4000:]}")
        with np.load(out, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
