"""Install, start, stop and probe a local Apache Kafka 3.9.1 broker and FerretDB, without Docker."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from chorus_local.ferretdb_patches import LEVELS as PATCH_LEVELS
from chorus_local.ferretdb_patches import apply_patches, build_name

KAFKA_VERSION = "3.9.1"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.1"
# The Go proxy refuses v1.24.1 on some networks; v1.24.2 is the same line with fixes.
FERRETDB_FALLBACK_VERSION = "v1.24.2"

# deploy/local/src/chorus_local/infra.py -> deploy/kafka/pom.xml
KAFKA_POM = Path(__file__).resolve().parents[3] / "kafka" / "pom.xml"

Log = Callable[[str], None]
T = TypeVar("T")


class InfraError(RuntimeError):
    """A local infrastructure component could not be installed, started or stopped."""


@dataclass(frozen=True)
class InfraLayout:
    """Where the local platform keeps its state and tools, and which ports it uses."""

    root: Path
    tools_dir: Path
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    mongo_port: int = 27017

    @classmethod
    def for_repo(cls, repo: Path) -> InfraLayout:
        """The default layout of `chorus up`: state in var/local, tools in var/tools."""
        repo = repo.resolve()
        return cls(root=repo / "var" / "local", tools_dir=repo / "var" / "tools")

    @classmethod
    def ephemeral(cls, repo: Path, name: str) -> InfraLayout:
        """A throwaway layout on free ports (tests, benchmarks): state in var/<name>-<pid>."""
        repo = repo.resolve()
        return cls(
            root=repo / "var" / f"{name}-{os.getpid()}",
            tools_dir=repo / "var" / "tools",
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            mongo_port=free_port(),
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ServiceStatus:
    """What `chorus status` shows for one component."""

    name: str
    address: str
    pid: int | None
    running: bool
    ready: bool
    log_file: Path


# --------------------------------------------------------------------------- helpers


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _run(
    argv: list[str],
    *,
    what: str,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run a command to completion; raise InfraError with its output when it fails."""
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
            cwd=cwd,
        )
    except FileNotFoundError as exc:
        raise InfraError(f"{what}: {argv[0]} not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"{what}: timed out after {timeout:.0f}s") from exc
    if proc.returncode != 0:
        raise InfraError(f"{what} failed (exit {proc.returncode}):\n{proc.stdout.strip()}")
    return proc.stdout


@contextlib.contextmanager
def _install_lock(tools_dir: Path, name: str) -> Iterator[None]:
    """Serialise installs of one tool across processes (make up and parallel tests)."""
    tools_dir.mkdir(parents=True, exist_ok=True)
    with open(tools_dir / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _port_in_use(port: int) -> bool:
    # SO_REUSEADDR so that TIME_WAIT leftovers of a killed broker do not count as "in use";
    # Linux still refuses the bind while anything listens on the port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _accepts(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _check_ports_free(ports: dict[str, int], grace: float = 3.0) -> None:
    # A grace period: a process killed a moment ago may still be releasing its sockets.
    deadline = time.monotonic() + grace
    while True:
        busy = [f"{label} port {port}" for label, port in ports.items() if _port_in_use(port)]
        if not busy or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if busy:
        raise InfraError(
            f"{', '.join(busy)} already in use on 127.0.0.1 by another process; "
            "stop it or choose other ports"
        )


def _run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also from code that already runs inside an event loop (async fixtures)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # noqa: B036 - re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target, name="chorus-infra-probe")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


# --------------------------------------------------------------------------- installers


def ensure_kafka_installed(tools_dir: Path, log: Log) -> Path:
    """Return the directory holding Kafka's class path, fetching it with Maven if missing."""
    tools_dir = tools_dir.resolve()
    libs = tools_dir / f"kafka-{KAFKA_VERSION}" / "libs"
    if any(libs.glob("kafka_2.13-*.jar")):
        return libs
    with _install_lock(tools_dir, "kafka"):
        if any(libs.glob("kafka_2.13-*.jar")):
            return libs
        if not KAFKA_POM.is_file():
            raise InfraError(f"cannot install Kafka: {KAFKA_POM} is missing")
        if shutil.which("mvn") is None:
            raise InfraError("cannot install Kafka: `mvn` (Apache Maven) is not on PATH")
        log(f"installing Kafka {KAFKA_VERSION} jars from Maven Central into {libs} ...")
        started = time.monotonic()
        libs.parent.mkdir(parents=True, exist_ok=True)
        # Fill a temporary directory and rename it, so a half-finished download never counts.
        tmp = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
        try:
            _run(
                [
                    "mvn", "-q", "-B", "-f", str(KAFKA_POM),
                    "dependency:copy-dependencies", "-DincludeScope=runtime",
                    f"-DoutputDirectory={tmp}",
                ],
                what="mvn dependency:copy-dependencies",
                timeout=900,
            )  # fmt: skip
            if libs.exists():
                shutil.rmtree(libs)
            tmp.chmod(0o755)  # mkdtemp makes it private; the jars are meant to be shared
            tmp.rename(libs)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        jars = len(list(libs.glob("*.jar")))
        log(f"Kafka installed: {jars} jars in {time.monotonic() - started:.0f}s")
        return libs


def _ferretdb_works(binary: Path) -> bool:
    # A plain module build lacks the generated build/version/version.txt and panics at start.
    try:
        proc = subprocess.run(
            [str(binary), "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def _ferretdb_patch_level() -> str:
    """Which of Chorus's FerretDB patches to build with (chorus_local.ferretdb_patches)."""
    if os.environ.get("CHORUS_FERRETDB_STOCK", "") in ("1", "true"):
        return "none"
    level = os.environ.get("CHORUS_FERRETDB_PATCHES", "all")
    if level not in PATCH_LEVELS:
        raise InfraError(f"CHORUS_FERRETDB_PATCHES must be one of {sorted(PATCH_LEVELS)}")
    return level


def _download_ferretdb(log: Log, env: dict[str, str]) -> tuple[str, Path]:
    """The module source of v1.24.1, or of v1.24.2 where the proxy refuses v1.24.1."""
    for version in (FERRETDB_VERSION, FERRETDB_FALLBACK_VERSION):
        try:
            out = _run(
                ["go", "mod", "download", "-json", f"{FERRETDB_MODULE}@{version}"],
                what=f"go mod download {FERRETDB_MODULE}@{version}",
                timeout=600,
                env=env,
            )
        except InfraError as exc:
            if version == FERRETDB_FALLBACK_VERSION:
                raise
            log(f"{exc}\nfalling back to FerretDB {FERRETDB_FALLBACK_VERSION}")
            continue
        return version, Path(json.loads(out)["Dir"])
    raise AssertionError("unreachable")


def _build_ferretdb(target: Path, log: Log) -> str:
    env = {**os.environ, "GOTOOLCHAIN": "local"}
    version, module_dir = _download_ferretdb(log, env)
    with tempfile.TemporaryDirectory(prefix="ferretdb-src-", dir=target.parent) as tmp:
        src = Path(tmp) / "src"
        # The module cache is read-only; build in a writable copy with version.txt added
        # (`bin/task gen-version` writes it upstream; without it the binary panics at start).
        shutil.copytree(module_dir, src)
        for path in [src, *src.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
        (src / "build" / "version" / "version.txt").write_text(version + "\n")
        level = _ferretdb_patch_level()
        if level != "none":
            try:
                apply_patches(src, level)
            except ValueError as exc:
                raise InfraError(f"FerretDB {version}: {exc}") from exc
        log(f"building FerretDB {version} (about a minute the first time) ...")
        _run(
            ["go", "build", "-o", str(target), "./cmd/ferretdb"],
            what=f"go build FerretDB {version}",
            timeout=1800,
            env=env,
            cwd=src,
        )
    return version


def ensure_ferretdb_installed(tools_dir: Path, log: Log) -> Path:
    """Return the FerretDB binary, building it with the Go toolchain if missing."""
    tools_dir = tools_dir.resolve()
    flavour = build_name(_ferretdb_patch_level())
    bin_dir = tools_dir / "ferretdb" / flavour
    binary = bin_dir / "ferretdb"
    if binary.is_file():
        return binary
    with _install_lock(tools_dir, "ferretdb"):
        if binary.is_file():
            return binary
        if shutil.which("go") is None:
            raise InfraError("cannot install FerretDB: `go` (1.24 or newer) is not on PATH")
        bin_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        built = bin_dir / "ferretdb.partial"
        version = _build_ferretdb(built, log)
        if not _ferretdb_works(built):
            raise InfraError(f"FerretDB {version} was built but `ferretdb --version` fails")
        os.replace(built, binary)
        log(
            f"FerretDB {version} ({flavour}) installed at {binary} "
            f"in {time.monotonic() - started:.0f}s"
        )
        return binary


# --------------------------------------------------------------------------- processes


def _proc_start_time(pid: int) -> str | None:
    """The kernel's start time of a process, to tell our pid from a recycled one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    # A zombie leader is dead, unless other threads are still exiting (and hold its sockets).
    if fields[0] == "Z" and len(os.listdir(f"/proc/{pid}/task")) <= 1:
        return None
    return fields[19]


class ManagedProcess:
    """One detached background process with a pid file and a log file in root/<name>/."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.dir = root.resolve() / name
        self.pid_file = self.dir / f"{name}.pid"
        self.log_file = self.dir / f"{name}.log"
        self._popen: subprocess.Popen[bytes] | None = None

    def pid(self) -> int | None:
        """The pid of the running process, or None."""
        try:
            parts = self.pid_file.read_text().split()
            pid, started = int(parts[0]), parts[1]
        except (OSError, ValueError, IndexError):
            return None
        if self._popen is not None and self._popen.pid == pid:
            # Our own child: poll() reaps it (else it lingers as a zombie) and only reports
            # an exit once every thread is gone, so its ports are free by then.
            return pid if self._popen.poll() is None else None
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # a child started by another instance in this process
        if Path("/proc").is_dir():
            return pid if _proc_start_time(pid) == started else None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(
        self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        """Start argv detached; env adds to (not replaces) the current environment."""
        if self.is_running():
            raise InfraError(f"{self.name} is already running (pid {self.pid()})")
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n=== {stamp} starting: {' '.join(argv)}\n".encode())
            log.flush()
            try:
                # A new session: Ctrl-C in the starting terminal does not reach it, and
                # the whole process group can be signalled at once.
                self._popen = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **(env or {})},
                    cwd=str(cwd or self.dir),
                    start_new_session=True,
                )
            except OSError as exc:
                raise InfraError(f"cannot start {self.name}: {exc}") from exc
        pid = self._popen.pid
        started = _proc_start_time(pid) or "-"
        tmp = self.pid_file.with_suffix(".pid.tmp")
        tmp.write_text(f"{pid} {started}\n")
        os.replace(tmp, self.pid_file)

    def _signal(self, sig: signal.Signals) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return False
        except PermissionError:
            os.kill(pid, sig)
        return True

    def _wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                return True
            time.sleep(0.1)
        return not self.is_running()

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL after timeout seconds; does nothing when not running."""
        if self._signal(signal.SIGCONT) and self._signal(signal.SIGTERM):
            if not self._wait_gone(timeout):
                self._signal(signal.SIGKILL)
                if not self._wait_gone(10):
                    raise InfraError(f"{self.name} (pid {self.pid()}) survives SIGKILL")
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL now, as a crash would (for fault tests)."""
        if self._signal(signal.SIGKILL):
            self._wait_gone(10)
        self.pid_file.unlink(missing_ok=True)

    def pause(self) -> None:
        """SIGSTOP: the process hangs but keeps its sockets open (for fault tests)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)


class _Service:
    """What Kafka and FerretDB share: start-if-needed, wait-until-ready, stop, status."""

    name = ""
    stop_timeout = 10.0

    def __init__(self, layout: InfraLayout, log: Log) -> None:
        self.layout = layout
        self.log = log
        self.process = ManagedProcess(layout.root, self.name)

    @property
    def address(self) -> str:
        raise NotImplementedError

    def _ports(self) -> dict[str, int]:
        raise NotImplementedError

    def _prepare(self) -> list[str]:
        """Install and write configuration; return the argv to start."""
        raise NotImplementedError

    def _environment(self) -> dict[str, str]:
        """Variables added to the process's environment."""
        return {}

    def _log_files(self) -> list[Path]:
        return [self.process.log_file]

    def is_ready(self, timeout: float = 2) -> bool:
        raise NotImplementedError

    def is_running(self) -> bool:
        return self.process.is_running()

    def start(self, wait: float = 90) -> None:
        """Start unless already running, then wait until it answers; idempotent."""
        if self.process.is_running():
            if self.is_ready():
                return
            self._wait_ready(wait, started_now=False)
            return
        _check_ports_free(self._ports())
        argv = self._prepare()
        self.log(f"starting {self.name} on {self.address} ...")
        began = time.monotonic()
        self.process.start(argv, env=self._environment())
        self._wait_ready(wait, started_now=True)
        self.log(f"{self.name} ready on {self.address} in {time.monotonic() - began:.1f}s")

    def _wait_ready(self, wait: float, started_now: bool) -> None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not self.process.is_running():
                raise self._failure("exited during start-up")
            if self.is_ready(timeout=min(2.0, max(0.5, deadline - time.monotonic()))):
                return
            time.sleep(0.3)
        error = self._failure(f"not ready after {wait:.0f}s")
        if started_now:
            # Leave nothing half-started behind: the next start begins from scratch.
            self.process.stop(self.stop_timeout)
        raise error

    def _failure(self, what: str) -> InfraError:
        logs = "\n".join(f"--- last lines of {path}:\n{_tail(path)}" for path in self._log_files())
        return InfraError(f"{self.name} {what}; see {self._log_files()[0]}\n{logs}")

    def stop(self) -> None:
        if self.process.is_running():
            self.log(f"stopping {self.name} ...")
        self.process.stop(self.stop_timeout)

    def kill(self) -> None:
        self.process.kill()

    def pause(self) -> None:
        self.process.pause()

    def resume(self) -> None:
        self.process.resume()

    def status(self) -> ServiceStatus:
        pid = self.process.pid()
        return ServiceStatus(
            name=self.name,
            address=self.address,
            pid=pid,
            running=pid is not None,
            ready=pid is not None and self.is_ready(),
            log_file=self._log_files()[0],
        )


# --------------------------------------------------------------------------- Kafka


_LOG4J = """\
# Written by chorus_local.infra on every start: INFO to a rolling file, nothing on the console.
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={log}
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
"""


class KafkaBroker(_Service):
    """A single-node KRaft Kafka broker (broker and controller in one JVM)."""

    name = "kafka"
    stop_timeout = 30.0  # a clean shutdown flushes logs and takes a few seconds

    def __init__(self, layout: InfraLayout, log: Log = print) -> None:
        super().__init__(layout, log)
        self.data_dir = self.process.dir / "data"
        self.server_log = self.process.dir / "server.log"
        self.properties_file = self.process.dir / "server.properties"
        self.log4j_file = self.process.dir / "log4j.properties"
        self.cluster_id_file = self.process.dir / "cluster.id"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.layout.kafka_port}"

    @property
    def address(self) -> str:
        return self.bootstrap

    def _ports(self) -> dict[str, int]:
        return {
            "Kafka": self.layout.kafka_port,
            "Kafka controller": self.layout.kafka_controller_port,
        }

    def _log_files(self) -> list[Path]:
        return [self.server_log, self.process.log_file]

    def _properties(self) -> str:
        port, ctrl = self.layout.kafka_port, self.layout.kafka_controller_port
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{ctrl}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{ctrl}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "min.insync.replicas": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            # Fewer internal partitions and threads, smaller buffers: faster start, less RAM.
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.num.partitions": "5",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "4",
            "log.cleaner.dedupe.buffer.size": "33554432",
            "log.cleaner.threads": "1",
            "log.segment.bytes": "67108864",
            "log.index.size.max.bytes": "1048576",
            "log.retention.hours": "168",
            # After a kill the controller refuses the restarted broker until the old
            # registration's session expires (default 9 s, plus retry back-off): keep it short.
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "4000",
        }
        lines = "".join(f"{key}={value}\n" for key, value in settings.items())
        return "# Written by chorus_local.infra on every start.\n" + lines

    def _cluster_id(self) -> str:
        # Kept next to the data so that a restart formats nothing and reuses the same cluster.
        if self.cluster_id_file.is_file():
            return self.cluster_id_file.read_text().strip()
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self.cluster_id_file.write_text(cluster_id + "\n")
        return cluster_id

    def _java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        if java_home and (Path(java_home) / "bin" / "java").is_file():
            return str(Path(java_home) / "bin" / "java")
        java = shutil.which("java")
        if java is None:
            raise InfraError("cannot start Kafka: `java` (17 or newer) is not on PATH")
        return java

    def _prepare(self) -> list[str]:
        libs = ensure_kafka_installed(self.layout.tools_dir, self.log)
        java = self._java()
        classpath = str(libs / "*")  # java expands the wildcard itself
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.properties_file.write_text(self._properties())
        self.log4j_file.write_text(_LOG4J.format(log=self.server_log))
        if not (self.data_dir / "meta.properties").is_file():
            self.log(f"formatting Kafka storage in {self.data_dir}")
            _run(
                [
                    java, "-cp", classpath, "kafka.tools.StorageTool", "format",
                    # `--cluster-id=`: an id may start with "-" (base64url), which
                    # argparse would take for an option (1 format in 64 failed).
                    f"--cluster-id={self._cluster_id()}", "-c", str(self.properties_file),
                    "--ignore-formatted",
                ],
                what="kafka-storage format",
                timeout=120,
                env={**os.environ, "KAFKA_LOG4J_OPTS": ""},
            )  # fmt: skip
        return [
            java,
            "-Xmx512m",
            "-Xms512m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.process.dir}",
            f"-Dlog4j.configuration=file:{self.log4j_file}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(self.properties_file),
        ]

    def is_ready(self, timeout: float = 2) -> bool:
        """True when the broker answers a metadata request."""
        if not _accepts(self.layout.kafka_port, timeout=min(timeout, 0.5)):
            return False  # saves aiokafka's connection-error log lines while it boots
        return _run_blocking(_kafka_answers(self.bootstrap, timeout))


async def _kafka_answers(bootstrap: str, timeout: float) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="chorus-infra-probe",
        request_timeout_ms=max(500, int(timeout * 1000)),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        await asyncio.wait_for(admin.list_topics(), timeout)
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


# --------------------------------------------------------------------------- FerretDB


class FerretDB(_Service):
    """FerretDB on its embedded SQLite backend, speaking the MongoDB wire protocol."""

    name = "ferretdb"

    def __init__(self, layout: InfraLayout, log: Log = print) -> None:
        super().__init__(layout, log)
        self.data_dir = self.process.dir / "data"
        self.state_dir = self.process.dir / "state"

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.layout.mongo_port}/"

    @property
    def address(self) -> str:
        return self.uri

    def _ports(self) -> dict[str, int]:
        return {"FerretDB": self.layout.mongo_port}

    def _prepare(self) -> list[str]:
        binary = ensure_ferretdb_installed(self.layout.tools_dir, self.log)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return [
            str(binary),
            "--handler=sqlite",
            # The URL must end with "/" (a directory) before its query. FerretDB adds WAL,
            # busy_timeout and auto_vacuum itself; synchronous=NORMAL (SQLite's advice with
            # WAL) drops the fsync per commit: a process crash still loses nothing, a power
            # cut may lose the last commits. Measured here: 2.4x the updates per second.
            # Local and test only: production runs MongoDB. temp_store=MEMORY keeps SQLite's
            # statement journals (a multi-row UPDATE or INSERT inside a transaction) off temp
            # files: ~11% of FerretDB's CPU under a leaver-shaped load (docs/platform.md).
            f"--sqlite-url=file:{self.data_dir}/?_pragma=synchronous(NORMAL)"
            "&_pragma=temp_store(MEMORY)",
            f"--listen-addr=127.0.0.1:{self.layout.mongo_port}",
            f"--state-dir={self.state_dir}",
            "--telemetry=disable",
            "--debug-addr=-",
            "--log-level=warn",
        ]

    def _environment(self) -> dict[str, str]:
        # Go's collector took ~9% of FerretDB's CPU during a bulk of leavers (its heap is
        # small and short-lived: decoded documents); collecting at 4x the live heap instead
        # of 2x halves that for some tens of MB. A GOGC set by whoever runs it wins.
        return {"GOGC": os.environ.get("GOGC", "400")}

    def is_ready(self, timeout: float = 2) -> bool:
        """True when a MongoDB ping answers."""
        if not _accepts(self.layout.mongo_port, timeout=min(timeout, 0.5)):
            return False
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        ms = max(200, int(timeout * 1000))
        client: MongoClient[dict[str, Any]] = MongoClient(
            self.uri,
            directConnection=True,
            serverSelectionTimeoutMS=ms,
            connectTimeoutMS=ms,
            socketTimeoutMS=ms,
        )
        try:
            client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            client.close()
