"""A kernel compiled at first use (not in Numba's cache) is announced; one loaded from the cache is silent."""

import subprocess
import sys
import textwrap


def _run(tmp_path, code):
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                       env={"NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return r.stderr


CODE = """
    import logging, sys
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(message)s")
    import numba
    sys.path.insert(0, ".")
    from spikestream.runtime import jitlog
    assert jitlog.watch(logging.getLogger("t"))
    from kern import twice
    twice(3.0)
"""


def test_a_compile_is_announced_once_and_a_cached_kernel_is_silent(tmp_path):
    (tmp_path / "kern.py").write_text("from numba import njit\n\n@njit(cache=True)\ndef twice(x):\n    return 2 * x\n")
    first = _run(tmp_path, CODE)
    assert "WARNING compiling kernel twice (not in Numba's cache" in first, first
    assert "INFO compiled 1 kernel(s) so far" in first, first
    second = _run(tmp_path, CODE)  # now from the on-disk cache
    assert "compil" not in second, second


def test_nothing_is_watched_in_a_process_without_numba(tmp_path):
    out = _run(tmp_path, """
        import logging, sys
        from spikestream.runtime import jitlog
        print(jitlog.watch(logging.getLogger("t")), "numba" in sys.modules, file=sys.stderr)
    """)
    assert out.strip() == "None False"
