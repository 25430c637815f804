"""`chorus`: run the local platform and the developer chores around it.

chorus up | down | status       the local platform (Kafka, FerretDB, services)
chorus token --role admin --unit company     a dev access token (never in production)
chorus topics                   create every catalogued topic
chorus contracts [--check]      regenerate (or check) event schemas and docs/events.md
chorus dlq-replay --topic T --group G        re-drive a dead-letter topic
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from chorus_kit.auth import load_or_create_dev_key
from chorus_kit.events.catalogue import TOPICS
from chorus_kit.events.contracts import render_catalogue_markdown, render_schemas
from chorus_kit.events.identity import Role, RoleAssignment
from chorus_local.demo import DEMO_ADMIN_EMAIL, DEMO_PASSWORD, seed_demo
from chorus_local.dlq import replay_dead_letters
from chorus_local.infra import FerretDB, InfraError, InfraLayout, KafkaBroker
from chorus_local.services import REPO, SERVICES, ServiceProcess

DEV_KEY = REPO / "var" / "dev" / "jwt-signing-key.pem"
IDENTITY_URL = "http://127.0.0.1:8101"
ACCESS_URL = "http://127.0.0.1:8104"
GRAPHQL_URL = "http://127.0.0.1:8100/graphql"
SCHEMAS_DIR = REPO / "libs" / "chorus_kit" / "src" / "chorus_kit" / "events" / "schemas"
CATALOGUE_DOC = REPO / "docs" / "events.md"


def _say(message: str) -> None:
    print(f"chorus: {message}", flush=True)


def _layout() -> InfraLayout:
    return InfraLayout.for_repo(REPO)


def _external_kafka() -> str | None:
    return os.environ.get("CHORUS_KAFKA_BOOTSTRAP")


def _external_mongo() -> str | None:
    return os.environ.get("CHORUS_MONGODB_URI")


def _services() -> list[ServiceProcess]:
    layout = _layout()
    kafka = _external_kafka() or KafkaBroker(layout, _say).bootstrap
    mongo = _external_mongo() or FerretDB(layout, _say).uri
    env = {
        "CHORUS_KAFKA_BOOTSTRAP": kafka,
        "CHORUS_MONGODB_URI": mongo,
        "CHORUS_JWKS_URL": "http://127.0.0.1:8101/.well-known/jwks.json",
        "CHORUS_DEV_SIGNING_KEY_FILE": str(DEV_KEY),
        "CHORUS_IDENTITY_URL": "http://127.0.0.1:8101",
        "CHORUS_ACCESS_URL": "http://127.0.0.1:8104",
    }
    return [ServiceProcess(spec, layout.root, env) for spec in SERVICES]


def cmd_up(_: argparse.Namespace) -> int:
    layout = _layout()
    try:
        if _external_kafka():
            _say(f"using Kafka at {_external_kafka()} (CHORUS_KAFKA_BOOTSTRAP)")
        else:
            _say("starting Kafka 3.9.1 (KRaft, single node)…")
            KafkaBroker(layout, _say).start()
        if _external_mongo():
            _say("using the MongoDB at CHORUS_MONGODB_URI")
        else:
            _say("starting FerretDB (MongoDB wire, SQLite backend)…")
            FerretDB(layout, _say).start()
        cmd_topics(argparse.Namespace())
        for service in _services():
            _say(f"starting {service.spec.name}…")
            service.start()
        if seed_demo(IDENTITY_URL, ACCESS_URL, load_or_create_dev_key(DEV_KEY), _say):
            _say("demo organisation seeded (Acme Group)")
    except (InfraError, RuntimeError) as exc:
        _say(f"FAILED: {exc}")
        return 1
    print()
    _print_status()
    print(
        f"\nGraphQL API: {GRAPHQL_URL} (GraphiQL in a browser)\n"
        f"  demo admin: {DEMO_ADMIN_EMAIL} / {DEMO_PASSWORD}\n"
        "  sign in with the mutation\n"
        f'    mutation {{ signIn(email: "{DEMO_ADMIN_EMAIL}", password: "{DEMO_PASSWORD}") '
        "{ __typename ... on Session { accessToken } } }\n"
        '  then send the header {"Authorization": "Bearer <accessToken>"}; docs/gateway.md\n'
        "  REST docs: http://127.0.0.1:8101/docs (identity), http://127.0.0.1:8104/docs (access)\n"
        "  a dev token without signing in: uv run chorus token --role admin --unit company"
    )
    return 0


def cmd_down(_: argparse.Namespace) -> int:
    layout = _layout()
    for service in reversed(_services()):
        service.stop()
        _say(f"stopped {service.spec.name}")
    if not _external_mongo():
        FerretDB(layout, _say).stop()
        _say("stopped FerretDB")
    if not _external_kafka():
        KafkaBroker(layout, _say).stop()
        _say("stopped Kafka")
    return 0


def _print_status() -> bool:
    layout = _layout()
    rows = []
    if not _external_kafka():
        rows.append(KafkaBroker(layout, _say).status())
    if not _external_mongo():
        rows.append(FerretDB(layout, _say).status())
    rows += [s.status() for s in _services()]
    all_ready = True
    print(f"{'part':<10} {'state':<9} {'address':<32} log")
    for row in rows:
        state = "ready" if row.ready else ("starting" if row.running else "stopped")
        all_ready &= row.ready
        print(f"{row.name:<10} {state:<9} {row.address:<32} {row.log_file}")
    return all_ready


def cmd_status(_: argparse.Namespace) -> int:
    return 0 if _print_status() else 1


def cmd_token(args: argparse.Namespace) -> int:
    if os.environ.get("CHORUS_ENVIRONMENT", "development") == "production":
        _say("refused: dev tokens are never minted in production")
        return 2
    key = load_or_create_dev_key(DEV_KEY)
    roles = [RoleAssignment(role=Role(args.role), unit=args.unit)]
    print(key.mint(args.sub, roles))
    return 0


def cmd_topics(_: argparse.Namespace) -> int:
    from chorus_kit.kafka import ensure_topics

    bootstrap = _external_kafka() or KafkaBroker(_layout(), _say).bootstrap
    asyncio.run(ensure_topics(bootstrap, TOPICS, prefix=os.environ.get("CHORUS_TOPIC_PREFIX", "")))
    _say(f"{len(TOPICS)} topics present on {bootstrap}")
    return 0


def cmd_contracts(args: argparse.Namespace) -> int:
    wanted = {SCHEMAS_DIR / name: text for name, text in render_schemas().items()}
    wanted[CATALOGUE_DOC] = render_catalogue_markdown()
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    extra = [p for p in SCHEMAS_DIR.glob("*.json") if p not in wanted]
    if args.check:
        for path in stale + extra:
            _say(f"out of date: {path.relative_to(REPO)} (run `make contracts`)")
        return 1 if stale or extra else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path])
        _say(f"wrote {path.relative_to(REPO)}")
    for path in extra:
        path.unlink()
        _say(f"removed {path.relative_to(REPO)}")
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    bootstrap = _external_kafka() or KafkaBroker(_layout(), _say).bootstrap
    count = asyncio.run(
        replay_dead_letters(bootstrap, topic=args.topic, group=args.group, prefix=args.prefix)
    )
    _say(f"replayed {count} message(s) from {args.prefix}{args.topic}.{args.group}.dlq")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="chorus", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start Kafka, FerretDB and the services").set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop everything").set_defaults(func=cmd_down)
    sub.add_parser("status", help="report each part").set_defaults(func=cmd_status)
    token = sub.add_parser("token", help="mint a dev access token")
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--unit", required=True)
    token.add_argument("--sub", default="dev-admin")
    token.set_defaults(func=cmd_token)
    sub.add_parser("topics", help="create the catalogued topics").set_defaults(func=cmd_topics)
    contracts = sub.add_parser("contracts", help="regenerate event schemas and docs/events.md")
    contracts.add_argument("--check", action="store_true")
    contracts.set_defaults(func=cmd_contracts)
    replay = sub.add_parser("dlq-replay", help="re-drive <topic>.<group>.dlq onto its topic")
    replay.add_argument(
        "--topic", required=True, help="logical topic, e.g. chorus.identity.employee.v1"
    )
    replay.add_argument("--group", required=True, help="consumer group that parked them")
    replay.add_argument("--prefix", default=os.environ.get("CHORUS_TOPIC_PREFIX", ""))
    replay.set_defaults(func=cmd_dlq_replay)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
