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
def bench_infra() -> Iterator[tuple[str, str]]:
    """(kafka bootstrap, mongodb uri), started fresh for this run unless given."""
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
    try:
        yield kafka.bootstrap, ferretdb.uri
    finally:
        kafka.stop()
        ferretdb.stop()
        shutil.rmtree(layout.root, ignore_errors=True)
