"""Make this folder's test helpers and plain-numpy references importable as `decode_helpers` and
`decode_reference` (unique names: tests run with --import-mode=importlib and other areas have their own)."""

import importlib.util
import sys
from pathlib import Path

for _name in ("helpers", "reference"):
    _spec = importlib.util.spec_from_file_location(f"decode_{_name}", Path(__file__).with_name(f"{_name}.py"))
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules[f"decode_{_name}"] = _mod
    _spec.loader.exec_module(_mod)
