"""A real MQTT broker and subscriber for the tests and bench/bench_mqtt.py.

:class:`Mosquitto` runs Debian's ``mosquitto`` on a free localhost port from a config file
in a temp folder, and can be stopped and started again on the same port (with persistence
on, sessions and retained messages survive that, as on a real installation).
:class:`Subscriber` is a paho-mqtt client that records what it receives, in order.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho


def mosquitto_binary() -> str | None:
    """``mosquitto`` lives in /usr/sbin on Debian, which is not on every user's PATH."""
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class Mosquitto:
    """A private broker: ``users`` turns on a password file, ``tls`` = (certfile, keyfile) a TLS listener."""

    def __init__(
        self,
        workdir: Path,
        *,
        users: dict[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
        persistence: bool = True,
    ) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
        self.binary = binary
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls = tls is not None
        lines = [f"listener {self.port} 127.0.0.1", f"allow_anonymous {'false' if users else 'true'}"]
        if os.geteuid() == 0:  # as root, mosquitto would become the user 'mosquitto', who cannot read our temp files
            lines.append("user root")
        if users:
            pw = self.dir / "passwd"
            pw.write_text("")
            for user, password in users.items():
                subprocess.run(
                    [shutil.which("mosquitto_passwd") or "mosquitto_passwd", "-b", str(pw), user, password],
                    check=True,
                    capture_output=True,
                )
            lines.append(f"password_file {pw}")
        if tls:
            lines += [f"certfile {tls[0]}", f"keyfile {tls[1]}"]
        if persistence:
            lines += ["persistence true", f"persistence_location {self.dir}/"]
        self.config = self.dir / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.log = self.dir / "mosquitto.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> Mosquitto:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=log, stderr=log)

        def accepting() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False

        if not _until(accepting, timeout):
            raise RuntimeError(f"mosquitto did not open port {self.port}: {self.log.read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        """SIGTERM, as systemd does (mosquitto saves its persistence file on the way out)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        self.proc = None

    def url(self, prefix: str = "test", user: str | None = None, password: str | None = None) -> str:
        cred = f"{user}:{password}@" if user is not None else ""
        host = "localhost" if self.tls else "127.0.0.1"  # the test certificate's name
        return f"{'mqtts' if self.tls else 'mqtt'}://{cred}{host}:{self.port}/{prefix}"


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for localhost / 127.0.0.1: (ca.pem, server.pem, server.key)."""
    folder.mkdir(parents=True, exist_ok=True)
    ossl = shutil.which("openssl")
    if ossl is None:
        raise FileNotFoundError("openssl is not installed")

    def run(*args: str) -> None:
        subprocess.run([ossl, *args], check=True, capture_output=True, cwd=folder)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=listener test CA",
    )
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "san.ext",
    )  # fmt: skip
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float  # time.monotonic() on arrival


class Subscriber:
    """A paho client subscribed to ``topics`` (QoS 1) that keeps every message, in arrival order.

    ``session`` names a persistent session (clean_session off): the broker keeps the
    subscription and queues messages for it while this client is away, across a broker restart.
    """

    def __init__(
        self,
        port: int,
        topics: list[str],
        session: str | None = None,
        auth: tuple[str, str] | None = None,
        ca: Path | None = None,
    ) -> None:
        self.messages: list[Received] = []
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._topics = topics
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=session or "",
            clean_session=session is None,
            protocol=paho.MQTTv311,
        )
        self.client.reconnect_delay_set(1, 1)  # be back before the listener is
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.client.on_message = self._on_message
        if auth:
            self.client.username_pw_set(*auth)
        if ca:
            self.client.tls_set(ca_certs=str(ca))
        self.client.connect_async("localhost" if ca else "127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self.connected.wait(15):
            raise RuntimeError(f"the subscriber could not connect to port {port}")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe([(t, 1) for t in self._topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.connected.set()  # subscribed (SUBACK): from now on nothing published is missed

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append(Received(message.topic, message.payload, bool(message.retain), time.monotonic()))

    def on(self, topic: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def wait(self, predicate, timeout: float = 30.0) -> bool:
        return _until(predicate, timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
