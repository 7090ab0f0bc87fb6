"""Make this folder's shared helpers importable as `runtime_helpers` (tests run with --import-mode=importlib)."""

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("runtime_helpers", Path(__file__).with_name("runtime_helpers.py"))
_mod = importlib.util.module_from_spec(_spec)
sys.modules["runtime_helpers"] = _mod
_spec.loader.exec_module(_mod)
