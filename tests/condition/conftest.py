"""Load this folder's reference.py as `condition_reference` (unique name across test areas)."""

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("condition_reference", Path(__file__).with_name("reference.py"))
_mod = importlib.util.module_from_spec(_spec)
sys.modules["condition_reference"] = _mod
_spec.loader.exec_module(_mod)
