"""Make this folder's slow references importable under unique names (tests run with --import-mode=importlib
and other areas have their own reference.py): `events_reference` (filters, slicer, emulator) and
`events_format_reference` (file-format encoders and per-word decoders)."""

import importlib.util
import sys
from pathlib import Path

for _name, _file in (("events_reference", "reference.py"), ("events_format_reference", "format_reference.py")):
    _spec = importlib.util.spec_from_file_location(_name, Path(__file__).with_name(_file))
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules[_name] = _mod
    _spec.loader.exec_module(_mod)
