"""Where a benchmark finds Kafka and the database: env vars, else its own local ones."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chorus_local.infra import FerretDB, InfraLayout, KafkaBroker

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def bench_infra(pids: dict[str, int] | None = None) -> Iterator[tuple[str, str]]:
    """(kafka bootstrap, mongodb uri), started fresh for this run unless given. `pids`, if
    given, receives the started processes' (`kafka`, `ferretdb`), for CPU accounting."""
    bootstrap = os.environ.get("CHORUS_KAFKA_BOOTSTRAP")
    mongo_uri = os.environ.get("CHORUS_MONGODB_URI")
    if bootstrap and mongo_uri:
        yield bootstrap, mongo_uri
        return
    layout = InfraLayout.ephemeral(REPO, "bench")
    log = lambda message: print(f"# {message}", flush=True)  # noqa: E731
    kafka, ferretdb = KafkaBroker(layout, log), FerretDB(layout, log)
    ferretdb.start()
    kafka.start()
    if pids is not None:
        for name, process in (("kafka", kafka.process), ("ferretdb", ferretdb.process)):
            pid = process.pid()
            if pid is not None:
                pids[name] = pid
    try:
        yield kafka.bootstrap, ferretdb.uri
    finally:
        kafka.stop()
        ferretdb.stop()
        shutil.rmtree(layout.root, ignore_errors=True)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) each process has used so far, from /proc (Linux); the
    processes it cannot read are left out."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        used[name] = (int(fields[11]) + int(fields[12])) / ticks
    return used
