"""Make this folder's shared helpers importable as `sources_live_helpers` (a unique name: tests run with
--import-mode=importlib, and other folders have helper modules of their own)."""

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("sources_live_helpers", Path(__file__).with_name("live_helpers.py"))
_mod = importlib.util.module_from_spec(_spec)
sys.modules["sources_live_helpers"] = _mod
_spec.loader.exec_module(_mod)
