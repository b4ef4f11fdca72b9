"""One startup measurement, in a fresh interpreter: ``python -m bench.startup_child CONTENDER DIRECTORY``.

Imports the contender's package first, so the baseline includes it; then
builds the middleware over ``DIRECTORY`` and prints one JSON line:

* ``seconds``: the construction, with ``time.perf_counter``;
* ``index_bytes``: resident memory after construction (and a collection) minus
  before it: what the index keeps;
* ``peak_bytes``: the high-water mark during construction minus the resident
  memory before it (``VmHWM`` is reset through ``/proc/self/clear_refs`` after
  the imports; where that is refused, the mark also covers the imports);
* ``urls``: the size of the index, ``null`` for a contender without one.
"""

from __future__ import annotations

import gc
import importlib
import json
import sys
import time

from .apps import BY_KEY, index_size

_PACKAGES = {"staticwrap": "staticwrap", "whitenoise": "whitenoise", "werkzeug": "werkzeug.middleware.shared_data"}


def status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def main(argv: list[str]) -> int:
    key, directory = argv
    contender = BY_KEY[key]
    assert contender.build is not None
    assert contender.package is not None
    importlib.import_module(_PACKAGES[contender.package])
    gc.collect()
    before = status_kib("VmRSS")
    peak_reset = reset_peak()
    started = time.perf_counter()
    app = contender.build(directory)
    seconds = time.perf_counter() - started
    gc.collect()
    after = status_kib("VmRSS")
    peak = status_kib("VmHWM")
    result = {
        "seconds": seconds,
        "index_bytes": (after - before) * 1024,
        "peak_bytes": (peak - before) * 1024,
        "peak_reset": peak_reset,
        "urls": index_size(app),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
