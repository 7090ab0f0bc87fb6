"""Make this folder's plain-numpy references importable as `encode_reference` (a unique name: other
areas have their own reference.py, and tests run with --import-mode=importlib)."""

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("encode_reference", Path(__file__).with_name("reference.py"))
_mod = importlib.util.module_from_spec(_spec)
sys.modules["encode_reference"] = _mod
_spec.loader.exec_module(_mod)
