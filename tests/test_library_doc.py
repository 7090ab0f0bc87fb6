"""docs/library.md's example runs as written and does what the page says."""

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "library.md"


def test_the_library_example_runs_and_tracks_the_movement():
    (code,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    env: dict = {}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, str(DOC), "exec"), env)
    assert env["r"] > 0.8, buf.getvalue()
    assert len(env["y"]) == 18_000 and "tracking r = " in buf.getvalue()
