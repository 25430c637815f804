"""Run access: `python -m access`."""

import uvicorn

from access.bootstrap import build_app
from access.settings import AccessSettings

if __name__ == "__main__":
    settings = AccessSettings()
    uvicorn.run(
        build_app(settings), host=settings.http_host, port=settings.http_port, log_config=None
    )
