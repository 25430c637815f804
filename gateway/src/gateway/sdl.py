"""Write (or check) gateway/schema.graphql: `python -m gateway.sdl [--check]`."""

from __future__ import annotations

import sys
from pathlib import Path

from gateway.schema import sdl

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def main(argv: list[str]) -> int:
    wanted = sdl() + "\n"
    current = SCHEMA_FILE.read_text() if SCHEMA_FILE.exists() else ""
    if "--check" in argv:
        if current != wanted:
            print(f"out of date: {SCHEMA_FILE} (run `make graphql-schema`)")
            return 1
        return 0
    if current != wanted:
        SCHEMA_FILE.write_text(wanted)
        print(f"wrote {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
