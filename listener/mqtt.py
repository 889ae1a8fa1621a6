"""The MQTT sink: detections to a broker (Home Assistant, Node-RED, a phone), never in the audio path's way.

Topics, under the URL's prefix (``mqtt://host/home/listener`` -> ``home/listener``; default ``listener``)::

    <prefix>/<model>/detection   every detection: the log line's JSON object, QoS 1
    <prefix>/<model>/last        the latest detection, retained (what a dashboard shows on start)
    <prefix>/<model>/sequence    every sequence record (models with symbols: "digits": "472"), QoS 1
    <prefix>/status              "online" while connected; "offline" on a clean stop and by last will

``<model>`` is the model's name (``digits``, ``sounds``). Other record types go through
:meth:`MqttSink.publish` (a topic suffix and a dict), as sequences do.
With discovery on, the listener announces itself to Home Assistant as a device with one
``event`` entity per model (docs/home-assistant.md).

Nothing lost, nothing blocking. ``write`` (called by the pipeline) only appends to a bounded
in-memory queue and returns. A worker thread hands queued records to paho-mqtt, whose own
network thread connects, sends, and reconnects with exponential backoff. While the broker is
unreachable, records wait in the queue (``queue`` of them; when it is full the oldest is dropped
and counted). Up to ``WINDOW`` messages are in flight, sent but not yet acknowledged (PUBACK);
paho keeps those and sends them again after a reconnect, before anything newer from the queue,
so the broker gets every record in order; a record in flight when the connection broke may
arrive twice (MQTT's QoS 1 is "at least once"). The JSONL log is written regardless: it is the
record of truth, this is a copy.

Problems (unknown host, refused connection, bad credentials, TLS) are said once, through
``notice``, while the sink keeps retrying; the return of the broker is said too. Only a
malformed URL or option is an error (:class:`~listener.errors.UsageError`, exit code 2).
paho is imported when a sink is made, so ``listener --help`` does not pay for it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from .errors import UsageError
from .events import Record, Sequence
from .sinks import Sink, record_dict, record_json

if TYPE_CHECKING:
    from .classifier import ModelInfo

DEFAULT_PREFIX = "listener"
PORTS = {"mqtt": 1883, "mqtts": 8883}
WINDOW = 20  # messages sent and not yet acknowledged, at most (paho's own default in-flight limit)
ONLINE, OFFLINE = "online", "offline"
URL_FORM = "mqtt://[user:password@]host[:port][/prefix] or mqtts://... for TLS"


@dataclass
class MqttOptions:
    """Everything the MQTT sink needs: the defaults of ``--mqtt*`` and of the config keys ``mqtt*``.

    The CLI, the config file and the app leave an option at ``None`` to mean the default here.
    """

    url: str  # mqtt://[user:password@]host[:port][/prefix]; mqtts:// for TLS
    ca: str | None = None  # PEM CA certificate(s) to trust for mqtts:// (default: the system's)
    queue: int = 1000  # detections held in memory while the broker is unreachable; then the oldest go
    discovery: bool = False  # announce the listener to Home Assistant (MQTT discovery)
    discovery_prefix: str = "homeassistant"  # Home Assistant's discovery prefix (its default)
    keepalive_s: int = 30  # ping the broker when idle; a dead connection is noticed within 1.5x this
    retry_min_s: int = 1  # first wait before reconnecting; doubles on each failure...
    retry_max_s: int = 30  # ...up to this
    connect_timeout_s: float = 5.0  # TCP connect and TLS handshake
    drain_s: float = 3.0  # at a clean stop, how long queued detections may take to reach a connected broker

    def __post_init__(self) -> None:
        broker = self.broker  # a malformed URL fails here, before anything is opened
        if self.ca is not None:
            if not broker.tls:
                raise UsageError(f"--mqtt-ca is for mqtts:// URLs (TLS), not {broker}")
            if not os.path.isfile(self.ca):
                raise UsageError(f"--mqtt-ca '{self.ca}': file not found")
        if isinstance(self.queue, bool) or not isinstance(self.queue, int) or self.queue < 1:
            raise UsageError(f"--mqtt-queue must be a whole number of at least 1, not {self.queue!r}")
        if not _TOPIC_LEVEL.fullmatch(self.discovery_prefix or ""):
            raise UsageError(
                f"--mqtt-discovery-prefix must be one topic level of letters, digits, '_' or '-', "
                f"not {self.discovery_prefix!r}"
            )

    @property
    def broker(self) -> BrokerAddress:
        """The parsed URL (UsageError when malformed)."""
        return parse_url(self.url)


_OPTION_NAMES = ("ca", "queue", "discovery", "discovery_prefix")


def mqtt_options(values: Any) -> MqttOptions | None:
    """MqttOptions from anything with ``mqtt``, ``mqtt_ca``, ``mqtt_queue``, ``mqtt_discovery`` and
    ``mqtt_discovery_prefix`` attributes (RunOptions, an argparse Namespace); None without ``mqtt``.

    Raises UsageError for a malformed URL or option, before anything is opened.
    """
    url = getattr(values, "mqtt", None)
    given = {name: getattr(values, f"mqtt_{name}", None) for name in _OPTION_NAMES}
    if not url:
        stray = [f"--mqtt-{name.replace('_', '-')}" for name, v in given.items() if v not in (None, False)]
        if stray:
            raise UsageError(f"{stray[0]} needs --mqtt URL")
        return None
    return MqttOptions(url=url, **{name: v for name, v in given.items() if v is not None})


# ---------------------------------------------------------------- URLs and topics

_TOPIC_LEVEL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class BrokerAddress:
    """A parsed ``--mqtt`` URL. ``str()`` leaves the credentials out (it goes into messages)."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    prefix: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}/{self.prefix}"


def parse_url(url: str) -> BrokerAddress:
    """``mqtt://user:pass@host:1883/prefix`` -> BrokerAddress; UsageError when malformed.

    User name and password may be percent-encoded (``p%40ss`` for ``p@ss``); the prefix is
    the path, one or more topic levels without wildcards.
    """
    bad = f"--mqtt {url!r} is not a broker URL ({URL_FORM})"
    encode = "; percent-encode '@ : / ? #' in a user name or password (%40 %3A %2F %3F %23)"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"{bad}: {exc}{encode if any(c in url for c in '@?#') else ''}") from None
    scheme = parts.scheme.lower()
    if scheme not in PORTS:
        raise UsageError(bad if not scheme else f"{bad}: unknown scheme '{scheme}'")
    if not parts.hostname:
        raise UsageError(f"{bad}: no host")
    if parts.query or parts.fragment:
        raise UsageError(f"{bad}: unexpected '?' or '#'{encode}")
    if port == 0:
        raise UsageError(f"{bad}: port 0")
    prefix = unquote(parts.path).strip("/") or DEFAULT_PREFIX
    if any(c in prefix for c in "+#\0") or "//" in prefix:
        raise UsageError(f"{bad}: the prefix {prefix!r} cannot hold '+', '#' or empty levels")
    return BrokerAddress(
        host=parts.hostname,
        port=port or PORTS[scheme],
        tls=scheme == "mqtts",
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        prefix=prefix,
    )


def topic_level(name: str) -> str:
    """A model name as one topic level / discovery id: anything but letters, digits, ``_``, ``-`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "model"


# ---------------------------------------------------------------- Home Assistant discovery

# The event entity takes a JSON object with an ``event_type``; our payload is the log line, whose
# label becomes the event type and whose other fields become the event's attributes.
EVENT_VALUE_TEMPLATE = "{{ dict(value_json, event_type=value_json.label) | to_json }}"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("listener")
    except Exception:  # not installed (a source tree on PYTHONPATH)
        return "unknown"


def discovery_config(
    info: ModelInfo, broker: BrokerAddress, discovery_prefix: str, host: str | None = None
) -> tuple[str, dict]:
    """Home Assistant's single-component discovery message for ``info``'s event entity: (topic, payload).

    Topic ``<discovery_prefix>/event/<node>/<model>/config``; the keys are those of HA's MQTT event
    platform (integrations/event.mqtt) and discovery (integrations/mqtt, "Discovery messages").
    All models of one listener share one device, ``listener (<host>)``.
    """
    host = host or socket.gethostname()
    node = topic_level(f"{broker.prefix}_{host}")
    model = topic_level(info.name)
    version = _version()
    payload = {
        "name": info.name,
        "unique_id": f"{node}_{model}",
        "state_topic": f"{broker.prefix}/{model}/detection",
        "event_types": info.detection_labels,
        "value_template": EVENT_VALUE_TEMPLATE,
        "availability_topic": f"{broker.prefix}/status",
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "qos": 1,
        "icon": "mdi:ear-hearing",
        "device": {
            "identifiers": [node],
            "name": f"{broker.prefix.replace('/', ' ')} ({host})",
            "manufacturer": "listener",
            "model": "listener",
            "sw_version": version,
        },
        "origin": {"name": "listener", "sw_version": version},
    }
    return f"{discovery_prefix}/event/{node}/{model}/config", payload


# ---------------------------------------------------------------- the sink


@dataclass
class MqttStatus:
    """What the app's status bar shows."""

    state: str  # "connecting" | "connected" | "retrying" | "off"
    queued: int  # detections not yet acknowledged by the broker (waiting or in flight)
    dropped: int  # dropped oldest-first because the queue was full
    delivered: int  # acknowledged by the broker
    detail: str  # the last problem ("" when connected)
    broker: str


@dataclass
class _Message:
    topic: str
    payload: bytes
    retain: bool = False


@dataclass
class _Record:
    """What one ``write``/``publish`` queued: its messages go out together, in order."""

    messages: list[_Message]


def describe_error(exc: BaseException | None, broker: BrokerAddress, ca: str | None) -> str:
    """One line for a failed connection attempt."""
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host '{broker.host}' ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused (is a broker listening on {broker.host} port {broker.port}?)"
    if isinstance(exc, ssl.SSLCertVerificationError):
        hint = "" if ca else "; give its CA certificate with --mqtt-ca"
        return f"TLS: the broker's certificate is not trusted ({exc.verify_message or exc.reason}){hint}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc}; is port {broker.port} a TLS port?)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer from {broker.host} port {broker.port}"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc) if exc else "connection failed"


def _new_client(options: MqttOptions, client_id: str):
    """A paho client that remembers why its last connection attempt failed (paho's loop swallows it)."""
    import paho.mqtt.client as paho

    class Client(paho.Client):
        last_error: BaseException | None = None

        def reconnect(self):  # called by paho's network thread for every attempt
            self.last_error = None
            try:
                return super().reconnect()
            except OSError as exc:
                self.last_error = exc
                raise

    client = Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
    client.suppress_exceptions = True  # a bug in a callback is logged by paho, not fatal to the network thread
    client.connect_timeout = options.connect_timeout_s
    client.reconnect_delay_set(options.retry_min_s, options.retry_max_s)
    client.max_inflight_messages_set(WINDOW + 10)  # + status and discovery messages
    return client


class MqttSink(Sink):
    """Publishes detections to an MQTT broker; see the module docstring for topics and guarantees."""

    def __init__(
        self, options: MqttOptions, notice: Callable[[str], None] | None = None, client_id: str | None = None
    ) -> None:
        self.options = options
        self.broker = options.broker
        self.notice = notice or (lambda message: None)
        self._status_topic = f"{self.broker.prefix}/status"
        self._cond = threading.Condition()
        self._pending: deque[_Record] = deque()
        self._inflight: dict[int, bool] = {}  # mid -> first message of its record, in the order sent
        self._acked: set[int] = set()  # PUBACKs not yet matched to _inflight
        self._barrier: set[int] = set()  # in flight at the last reconnect: they go before anything new
        self._publishing = False  # the worker is inside paho's publish()
        self._connected = False
        self._ever_connected = False
        self._stopping = False
        self._closed = False
        self._state = "connecting"
        self._detail = ""
        self._problem: str | None = None  # the last problem said, so it is said once
        self._down_since: float | None = None
        self._refused = False  # the broker answered the last attempt with a refusal
        self._dropped = 0  # records dropped, all told
        self._dropped_since_connect = 0  # ... since the last (re)connection, for its message
        self._drop_said = False  # "queue full" said since the last (re)connection
        self._delivered = 0  # records acknowledged by the broker
        self._levels: dict[str, str] = {}  # model id -> topic level
        self._models: list[ModelInfo] = []
        self._host = socket.gethostname()

        self._client = client = _new_client(options, client_id or f"listener-{uuid.uuid4().hex[:12]}")
        b = self.broker
        if b.username is not None:
            client.username_pw_set(b.username, b.password)
        if b.tls:
            client.tls_set(ca_certs=options.ca)
        client.will_set(self._status_topic, OFFLINE, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._worker = threading.Thread(target=self._work, name="listener-mqtt", daemon=True)
        self._worker.start()
        client.connect_async(b.host, b.port, keepalive=options.keepalive_s)
        client.loop_start()

    # --- what the pipeline and the app call -------------------------------------
    def add_model(self, info: ModelInfo) -> None:
        """Publish ``info``'s detections under its name; announce it to Home Assistant when discovery is on."""
        level = topic_level(info.name)
        with self._cond:
            self._levels[info.model_id] = level
            if all(m.model_id != info.model_id for m in self._models):
                self._models.append(info)
            connected = self._connected
        if connected:
            self._announce([info])

    def write(self, record: Record) -> None:
        """Queue a detection (the log line's JSON) on ``<model>/detection`` and, retained, ``<model>/last``;
        a sequence on ``<model>/sequence``.

        Returns at once; never raises (the log must be written whatever happens here).
        """
        try:
            level = self._levels.get(record.model) or topic_level(record.model)
            if isinstance(record, Sequence):
                self.publish(f"{level}/sequence", record_dict(record))
                return
            payload = record_json(record).encode("utf-8")
            prefix = f"{self.broker.prefix}/{level}"
            self._enqueue(
                _Record([_Message(f"{prefix}/detection", payload), _Message(f"{prefix}/last", payload, True)])
            )
        except Exception as exc:  # a bug here must not cost the log line
            self.notice(f"could not queue a detection: {type(exc).__name__}: {exc}")

    def publish(self, suffix: str, record: dict, retain: bool = False) -> None:
        """Queue any record as JSON on ``<prefix>/<suffix>`` (QoS 1), in order with the detections,
        with the same queue, retries and counts; e.g. ``publish("digits/sequence", {...})``."""
        suffix = suffix.strip("/")
        if not suffix or any(c in suffix for c in "+#\0"):
            raise ValueError(f"not a topic suffix: {suffix!r}")
        payload = json.dumps(record, ensure_ascii=False).encode("utf-8")
        self._enqueue(_Record([_Message(f"{self.broker.prefix}/{suffix}", payload, retain)]))

    def status(self) -> MqttStatus:
        with self._cond:
            self._reap()
            return MqttStatus(
                self._state, self._queued(), self._dropped, self._delivered, self._detail, str(self.broker)
            )

    def close(self) -> None:
        """Give queued detections ``drain_s`` to reach a connected broker, say ``offline``, disconnect.

        Does not wait for a broker that is not connected. Idempotent.
        """
        with self._cond:
            if self._closed:
                return
            self._closed = True
            deadline = time.monotonic() + self.options.drain_s
            while self._connected and (self._pending or self._inflight):
                self._reap()
                left = deadline - time.monotonic()
                if left <= 0 or not (self._pending or self._inflight):
                    break
                self._cond.wait(min(left, 0.1))
            self._reap()
            undelivered = self._queued()
            connected = self._connected
            self._stopping = True
            self._cond.notify_all()
        self._worker.join(2.0)
        client = self._client
        if connected:
            info = client.publish(self._status_topic, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(1.0)
            except (RuntimeError, ValueError):
                pass
        client.disconnect()
        stopper = threading.Thread(target=client.loop_stop, daemon=True)  # bounded: a connect may be under way
        stopper.start()
        stopper.join(self.options.connect_timeout_s + 1.0)
        with self._cond:
            self._state, self._detail, self._connected = "off", "", False
        summary = f"{self._delivered} detection{'' if self._delivered == 1 else 's'} delivered to {self.broker}"
        if undelivered:
            summary += f"; {undelivered} not delivered (no connection to the broker; they are in the log)"
        if self._dropped:
            summary += f"; {self._dropped} dropped, oldest first, when the queue ({self.options.queue}) was full"
        self.notice(summary)

    # --- the queue (any thread) --------------------------------------------------
    def _enqueue(self, record: _Record) -> None:
        with self._cond:
            if self._closed:
                return
            if len(self._pending) >= self.options.queue:
                self._pending.popleft()
                self._dropped += 1
                self._dropped_since_connect += 1
            self._pending.append(record)
            self._cond.notify_all()

    def _queued(self) -> int:
        """Records not yet acknowledged: waiting, or in flight (under the lock)."""
        return len(self._pending) + sum(self._inflight.values())

    def _reap(self) -> None:
        """Match PUBACKs to what was sent (under the lock)."""
        for mid in [m for m in self._acked if m in self._inflight]:
            self._delivered += self._inflight.pop(mid)
            self._barrier.discard(mid)
            self._acked.discard(mid)
        if not self._publishing:  # the rest are status/discovery messages, not ours to count
            self._acked.clear()

    def _work(self) -> None:
        """The worker: hands queued records to paho while connected, WINDOW messages in flight at most."""
        while True:
            with self._cond:
                while True:
                    self._reap()
                    if self._stopping:
                        return
                    say_drops = self._dropped_since_connect > 0 and not self._drop_said
                    if say_drops:
                        self._drop_said = True
                        break
                    if (
                        self._connected
                        and not self._barrier
                        and self._pending
                        and len(self._inflight) + len(self._pending[0].messages) <= WINDOW
                    ):
                        break
                    self._cond.wait()
                if say_drops:
                    record = None
                else:
                    record = self._pending.popleft()
                    self._publishing = True
            if record is None:
                self.notice(
                    f"queue full ({self.options.queue} detections waiting for {self.broker}): "
                    "dropping the oldest (--mqtt-queue sets the size)"
                )
                continue
            mids: list[tuple[int, bool]] = []
            try:
                for i, m in enumerate(record.messages):
                    info = self._client.publish(m.topic, m.payload, qos=1, retain=m.retain)
                    mids.append((info.mid, i == 0))
            except Exception as exc:  # an invalid topic from publish(): say so, drop the record
                self.notice(f"cannot publish on {record.messages[0].topic!r}: {exc}")
            with self._cond:
                for mid, counts in mids:
                    self._inflight[mid] = counts
                self._publishing = False
                self._reap()
                self._cond.notify_all()

    # --- paho callbacks (paho's network thread) ---------------------------------
    def _say_problem(self, text: str, lost: bool = False) -> None:
        """Say a problem once (the same one again, every few seconds while retrying, is not news)."""
        with self._cond:
            if self._stopping:
                return
            self._state, self._detail = "retrying", text or "connection lost"
            if self._down_since is None:
                self._down_since = time.monotonic()
            new = text != self._problem
            self._problem = text
        if new:
            if lost:
                what = f"lost the connection to {self.broker}" + (f" ({text})" if text else "")
            else:
                what = f"cannot connect to {self.broker}: {text}"
            self.notice(f"{what}; retrying (detections wait in memory, up to {self.options.queue})")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refused = True
            self._say_problem(f"the broker refused the connection: {reason_code}")
            return
        with self._cond:
            while self._publishing:  # the worker registers what it just sent first
                self._cond.wait()
            self._reap()
            self._barrier = set(self._inflight)  # paho resends these right after this callback
            self._connected = True
            self._state, self._detail, self._problem = "connected", "", None
            again, self._ever_connected = self._ever_connected or self._down_since is not None, True
            down = None if self._down_since is None else time.monotonic() - self._down_since
            self._down_since = None
            queued = self._queued()
            dropped, self._dropped_since_connect, self._drop_said = self._dropped_since_connect, 0, False
            self._cond.notify_all()
        client.publish(self._status_topic, ONLINE, qos=1, retain=True)
        if self.options.discovery:
            client.subscribe(f"{self.options.discovery_prefix}/status", qos=1)  # Home Assistant's birth message
            self._announce(list(self._models))
        if not again:
            self.notice(f"connected to {self.broker}")
        else:
            self.notice(
                f"connected again to {self.broker}"
                + (f" after {down:.0f} s" if down is not None else "")
                + f"; sending {queued} queued detection{'' if queued == 1 else 's'}"
                + (f" ({dropped} oldest dropped: the queue was full)" if dropped else "")
            )

    def _on_connect_fail(self, client, userdata) -> None:
        self._say_problem(describe_error(client.last_error, self.broker, self.options.ca))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._cond:
            was, self._connected = self._connected, False
            if self._stopping:
                return
            refused, self._refused = self._refused, False
            self._cond.notify_all()
        if was:
            self._say_problem("" if reason_code.value == 128 else str(reason_code), lost=True)  # 128: unspecified
        elif not refused:  # closed before any CONNACK: often plain MQTT to a TLS port
            hint = "" if self.broker.tls else "; if that port is TLS, use mqtts://"
            self._say_problem(f"the broker closed the connection during the handshake{hint}")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._cond:
            self._acked.add(mid)
            if self._barrier or self._closed or len(self._inflight) >= WINDOW - 1:  # someone waits for acks
                self._cond.notify_all()  # (otherwise they are matched at the next wake-up: fewer of those)

    def _on_message(self, client, userdata, message) -> None:
        if message.topic == f"{self.options.discovery_prefix}/status" and message.payload == ONLINE.encode():
            self._announce(list(self._models))  # Home Assistant (re)started: tell it again

    def _announce(self, models: list[ModelInfo]) -> None:
        if not self.options.discovery:
            return
        for info in models:
            topic, payload = discovery_config(info, self.broker, self.options.discovery_prefix, self._host)
            self._client.publish(topic, json.dumps(payload, ensure_ascii=False), qos=1, retain=True)
