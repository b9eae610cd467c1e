"""kafka-python's own integration tests (every module of its sdist's
test/integration/: admin, consumer, producer, SSL, SASL; run unchanged)
against Vltava, through kafka-python-suite/run.sh: one test here, which
fails when any of theirs fails. About 25 s (plus the sdist's download into
$VLTAVA_CACHE the first time)."""

import os
import subprocess
from pathlib import Path

RUN = Path(__file__).resolve().parent / "kafka-python-suite" / "run.sh"


def test_kafka_python_integration_suite():
    proc = subprocess.run(["bash", str(RUN), "-q"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=dict(os.environ), timeout=300)
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, f"run.sh exited {proc.returncode}:\n{out[-15000:]}"
    assert " passed" in out and " failed" not in out, out[-5000:]
