"""Run identity: `python -m identity`."""

import uvicorn

from identity.bootstrap import build_app
from identity.settings import IdentitySettings

if __name__ == "__main__":
    settings = IdentitySettings()
    uvicorn.run(
        build_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        # X-Forwarded-For is read by identity itself, from configured trusted proxies only.
        proxy_headers=False,
    )
