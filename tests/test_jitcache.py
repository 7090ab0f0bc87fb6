"""The Numba stale-cache guard (spikestream/_jitcache.py): a package's cache is cleared when its own sources
or any module its kernels import changes, across packages."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spikestream import _jitcache
from spikestream._jitcache import ROOT, invalidate_if_stale, sources

def _has_kernels(path: Path) -> bool:
    return re.search(r"^[ \t]*@(numba\.)?njit", path.read_text(), re.M) is not None


JITTED = ["condition", "decode", "encode", "events", "snn", "sources"]


@pytest.mark.parametrize("pkg", JITTED)
def test_every_jitted_package_calls_the_guard_first(pkg):
    init = (ROOT / pkg / "__init__.py").read_text()
    assert "invalidate_if_stale(__path__[0])" in init
    # before the package's modules (and so its kernels) are imported
    assert init.index("invalidate_if_stale(__path__[0])") < init.find("import_module")


def test_the_guarded_packages_are_all_the_jitted_ones():
    jitted = {p.parent.name for p in ROOT.glob("*/*.py") if _has_kernels(p)}
    assert jitted == set(JITTED)


def test_cross_package_helpers_are_sources():
    enc = sources(ROOT / "encode")
    assert ROOT / "encode" / "_fastmath.py" in enc and ROOT / "encode" / "cochlea.py" in enc
    assert ROOT / "condition" / "iir.py" in sources(ROOT / "sources")   # synthetic.py's filter kernel
    assert ROOT / "decode" / "features.py" in sources(ROOT / "snn")     # snn/align.py's rates


def _tree(tmp_path):
    top = tmp_path / "spikestream"
    for d in ("a", "b"):
        (top / d / "__pycache__").mkdir(parents=True)
        (top / d / "__init__.py").write_text("")
    (top / "__init__.py").write_text("")
    (top / "a" / "helper.py").write_text("K = 1\n")
    (top / "b" / "kern.py").write_text("from spikestream.a.helper import (\n    K,\n)\n")
    return top


def _cache_files(top, d):
    c = top / d / "__pycache__"
    for name in ("kern.f-1.py311.nbi", "kern.f-1.py311.1.nbc"):
        (c / name).write_text("cached")
    return lambda: sorted(p.name for p in c.glob("*.nb?"))


def test_touching_a_shared_helper_invalidates_dependants(tmp_path):
    top = _tree(tmp_path)
    assert invalidate_if_stale(top / "a", top) and invalidate_if_stale(top / "b", top)   # first sight
    in_a, in_b = _cache_files(top, "a"), _cache_files(top, "b")
    assert not invalidate_if_stale(top / "a", top) and not invalidate_if_stale(top / "b", top)
    assert in_a() and in_b()                               # unchanged sources: kept
    (top / "a" / "helper.py").write_text("K = 2\n")        # the helper b's kernel imports
    assert invalidate_if_stale(top / "b", top) and not in_b()
    assert invalidate_if_stale(top / "a", top) and not in_a()
    in_a, in_b = _cache_files(top, "a"), _cache_files(top, "b")
    (top / "b" / "kern.py").write_text((top / "b" / "kern.py").read_text() + "# edited\n")
    assert invalidate_if_stale(top / "b", top) and not in_b()
    assert not invalidate_if_stale(top / "a", top) and in_a()   # a does not depend on b


KERN = """
from numba import njit
from spikestream.a.helper import helper
from spikestream._jitcache import invalidate_if_stale
import sys
if sys.argv[1] == "guard":
    invalidate_if_stale(__import__("os").path.dirname(__file__), __import__("pathlib").Path(sys.argv[2]))

@njit(cache=True)
def f(x):
    return helper(x)

print(f(1.0))
"""


def _run(top, guard):
    env = {**os.environ, "PYTHONPATH": str(top.parent)}
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", "import spikestream.b.kern", "guard" if guard else "no", str(top)],
                         capture_output=True, text=True, timeout=120, env=env, cwd=top.parent)
    assert out.returncode == 0, out.stderr
    return float(out.stdout.split()[-1])


@pytest.mark.parametrize("guard", [False, True])
def test_real_numba_cache_goes_stale_without_the_guard(tmp_path, guard):
    """A cached kernel calling a jitted helper of another package: after the helper changes, Numba alone
    still runs the old machine code; with the guard the kernel is recompiled."""
    top = tmp_path / "spikestream"
    for d in ("a", "b"):
        (top / d).mkdir(parents=True)
        (top / d / "__init__.py").write_text("")
    (top / "__init__.py").write_text("")
    (top / "_jitcache.py").write_text(Path(_jitcache.__file__).read_text())
    helper = "from numba import njit\n\n@njit(cache=True)\ndef helper(x):\n    return x + {}\n"
    (top / "a" / "helper.py").write_text(helper.format(1))
    (top / "b" / "kern.py").write_text(textwrap.dedent(KERN).replace("sys.argv[1]", "sys.argv[-2]")
                                       .replace("sys.argv[2]", "sys.argv[-1]"))
    assert _run(top, guard) == 2.0
    assert any((top / "b" / "__pycache__").glob("*.nbi"))   # the kernel was cached
    (top / "a" / "helper.py").write_text(helper.format(100))
    assert _run(top, guard) == (101.0 if guard else 2.0)


def test_top_level_jitted_modules_need_no_guard():
    """A jitted module outside the packages (safety.py) has no hook: Numba's own check of its file is enough
    as long as its kernels call nothing jitted from another file. Fail here when that changes."""
    from spikestream._jitcache import _import_re, _imports, _modules
    mods, pat = _modules(ROOT), _import_re(ROOT.name)
    for f in ROOT.glob("*.py"):
        if _has_kernels(f):
            deps = [Path(d) for d in _imports(f.read_bytes(), mods, pat)]
            jitted = [d.name for d in deps if _has_kernels(d)]
            assert not jitted, f"{f.name}'s kernels may call jitted code in {jitted}: give it a cache guard"
