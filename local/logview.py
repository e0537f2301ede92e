"""The functions' logs in the terminal, one readable line each, prefixed
with the function's name: what `make up` shows while it runs.

The functions write JSON lines (``token_exchange/oic_gateway/log.py``) to files
``local/fnrun.py`` captures; this follows those files and turns each line
into ``time  function  LEVEL  message  key=value ...``. Anything that is not
one of our JSON lines (fdk's own output) is shown as it came.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from local.fnrun import FnProcess

_FIRST = ("ts", "level", "logger", "msg")


def readable(name: str, line: str, width: int = 0) -> str:
    try:
        record: Any = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict) or "msg" not in record:
        return f"{'':8}  {name:<{width}}  {line}"
    stamp = record.get("ts")
    when = time.strftime("%H:%M:%S", time.localtime(stamp)) if isinstance(stamp, (int, float)) else "--:--:--"
    fields = " ".join(f"{key}={value if isinstance(value, str) else json.dumps(value)}"
                      for key, value in record.items() if key not in _FIRST)
    return f"{when}  {name:<{width}}  {record.get('level', ''):<5}  {record['msg']}  {fields}".rstrip()


class LogFollower:
    """Polls each function's output files and prints new lines."""

    def __init__(self, functions: dict[str, FnProcess], out: TextIO, interval: float = 0.2) -> None:
        self._sources = [(name, path) for name, fn in functions.items() for path in (fn.stdout_path, fn.stderr_path)]
        self._offsets: dict[Path, int] = {}
        self._pending: dict[Path, bytes] = {}
        self._width = max((len(name) for name in functions), default=0)
        self._out = out
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-follower", daemon=True)

    def start(self) -> LogFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.poll()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.poll()

    def poll(self) -> None:
        for name, path in self._sources:
            try:
                with path.open("rb") as stream:
                    stream.seek(self._offsets.get(path, 0))
                    data = stream.read()
            except OSError:
                continue
            if not data:
                continue
            self._offsets[path] = self._offsets.get(path, 0) + len(data)
            data = self._pending.pop(path, b"") + data
            *lines, rest = data.split(b"\n")
            if rest:
                self._pending[path] = rest
            for raw in lines:
                if raw.strip():
                    print(readable(name, raw.decode(errors="replace"), self._width), file=self._out, flush=True)
