"""The history of a run: one JSON object per line, in the order written.

Every event has
  t        seconds since the run started (monotonic clock)
  process  who did it: "producer-0", "consumer-3", "txn-1", "admin-0",
           "monitor", "nemesis", "final"
  type     invoke | ok | fail | info   (Jepsen's vocabulary: `fail` means the
           operation certainly did not take effect, `info` that nobody knows)
  f        what: produce, poll, commit, assign, revoke, open, close,
           committed, txn, admin, or a nemesis fault name
and the fields that operation needs (topic, partition, offset, value, ...).

A process that crashes or restarts never comes back under the same name, so
per-process order is the order of one client's life.
"""

import json
import threading
import time


class History:
    """Thread-safe, append-only; written through to a file as it grows so a
    run that dies still leaves its history behind."""

    def __init__(self, path=None):
        self._lock = threading.Lock()
        self._start = time.monotonic()
        # The wall clock at t=0, to find an event's moment in the brokers' logs.
        self.started_wall = time.time()
        self.events = []
        self._file = open(path, "w", encoding="utf-8") if path else None

    def now(self):
        return time.monotonic() - self._start

    def add(self, process, type_, f, **fields):
        event = {"t": round(self.now(), 6), "process": process, "type": type_, "f": f}
        event.update(fields)
        with self._lock:
            self.events.append(event)
            if self._file:
                self._file.write(json.dumps(event, separators=(",", ":")) + "\n")
        return event

    def close(self):
        with self._lock:
            if self._file:
                self._file.close()
                self._file = None


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
