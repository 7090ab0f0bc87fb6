"""Run every benchmark in this folder, one after another, passing the arguments through (e.g. --quick).

    .venv/bin/python benchmarks/run_all.py [--quick]
"""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
failed = []
for script in sorted(here.glob("*.py")):
    if script.name == "run_all.py" or script.name.startswith("_"):
        continue
    print(f"\n===== {script.name} =====", flush=True)
    if subprocess.call([sys.executable, str(script), *sys.argv[1:]]) != 0:
        failed.append(script.name)
if failed:
    print(f"\nbenchmarks that failed: {failed}")
    sys.exit(1)
