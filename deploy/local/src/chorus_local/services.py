"""Chorus services as local processes (`python -m <service>`), for `chorus up` and the tests."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chorus_local.infra import InfraError, ManagedProcess, ServiceStatus

REPO = Path(__file__).resolve().parents[4]


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # also the Python module: `python -m <name>`
    port: int


# Documented loopback ports (README): gateway 8100, identity 8101, access 8104. The gateway
# comes last: it calls the others (and reads identity's keys) once they are up.
SERVICES = (
    ServiceSpec("identity", 8101),
    ServiceSpec("access", 8104),
    ServiceSpec("gateway", 8100),
)


@dataclass
class ServiceProcess:
    spec: ServiceSpec
    root: Path  # state dir: pid and log files live below it
    env: dict[str, str] = field(default_factory=dict)
    instance: str = ""  # for several replicas of one service

    def __post_init__(self) -> None:
        label = f"{self.spec.name}{'-' + self.instance if self.instance else ''}"
        self.process = ManagedProcess(self.root, label)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.spec.port}"

    def start(self, *, wait: float = 60, until_ready: bool = True) -> None:
        """Start the process and wait until it is ready (or, with until_ready=False, alive)."""
        probe = self.is_ready if until_ready else self.is_alive
        if self.process.is_running() and probe():
            return
        env = {
            **os.environ,
            **self.env,
            "CHORUS_HTTP_PORT": str(self.spec.port),
            "PYTHONUNBUFFERED": "1",
        }
        self.process.start([sys.executable, "-m", self.spec.name], env=env, cwd=REPO)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not self.process.is_running():
                raise InfraError(f"{self.spec.name} exited at start; see {self.process.log_file}")
            if probe():
                return
            time.sleep(0.2)
        raise InfraError(
            f"{self.spec.name} not ready after {wait:.0f}s; see {self.process.log_file}"
        )

    def is_ready(self) -> bool:
        return self._answers("/readyz")

    def is_alive(self) -> bool:
        return self._answers("/healthz")

    def _answers(self, path: str) -> bool:
        try:
            return httpx.get(f"{self.url}{path}", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()

    def status(self) -> ServiceStatus:
        running = self.process.is_running()
        return ServiceStatus(
            name=self.spec.name,
            address=self.url,
            pid=self.process.pid(),
            running=running,
            ready=running and self.is_ready(),
            log_file=self.process.log_file,
        )
