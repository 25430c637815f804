"""Run the gateway: `python -m gateway`."""

import uvicorn

from gateway.bootstrap import build_app
from gateway.settings import GatewaySettings

if __name__ == "__main__":
    settings = GatewaySettings()
    uvicorn.run(
        build_app(settings), host=settings.http_host, port=settings.http_port, log_config=None
    )
