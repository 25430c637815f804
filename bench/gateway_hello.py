"""The bench's (B): a hello-world schema served with the gateway's own server setup
(same app factory, auth, limits, extensions, execution context, HTTP layer):
`python -m bench.gateway_hello`."""

from __future__ import annotations

import strawberry
import uvicorn

from gateway.bootstrap import build_app
from gateway.limits import CostBudgets
from gateway.rules import operation_extensions
from gateway.schema import AcyclicExecution
from gateway.settings import GatewaySettings


@strawberry.type
class HelloQuery:
    @strawberry.field
    def hello(self) -> str:
        return "world"


def hello_schema(settings: GatewaySettings, budgets: CostBudgets) -> strawberry.Schema:
    return strawberry.Schema(
        query=HelloQuery,
        execution_context_class=AcyclicExecution,
        extensions=operation_extensions(settings, budgets=budgets),
    )


if __name__ == "__main__":
    settings = GatewaySettings()
    app = build_app(settings, schema_factory=hello_schema)
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None)
