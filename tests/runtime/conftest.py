"""Make this folder's shared helpers importable as `runtime_helpers` (tests run with --import-mode=importlib)."""

import importlib.util
import sys
from pathlib import Path

for _name in ("runtime_helpers", "loop_helpers"):  # in this order: loop_helpers imports runtime_helpers
    _spec = importlib.util.spec_from_file_location(_name, Path(__file__).with_name(f"{_name}.py"))
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules[_name] = _mod
    _spec.loader.exec_module(_mod)
