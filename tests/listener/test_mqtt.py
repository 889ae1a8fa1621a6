"""The MQTT sink with a real broker: Debian's mosquitto on a free localhost port, subscribers made with paho.

``listener run`` runs as a real subprocess. Where a test must say when detections happen
(before, during, after a broker outage) the audio comes through stdin, written by the test.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import soundfile as sf
from broker import Mosquitto, Subscriber, free_port, make_certificates
from conftest import LISTENER, assert_clean_error, make_test_model, pcm16, run_cli, two_tones, wait_for

from listener.classifier import ModelInfo
from listener.errors import UsageError
from listener.events import Detection
from listener.mqtt import DEFAULT_PREFIX, MqttOptions, MqttSink, parse_url, topic_level

RATE = 16000
MODEL = "testmodel"  # make_test_model's name: the topic level of its detections


@pytest.fixture
def work(tmp_path: Path) -> Path:
    make_test_model(tmp_path, filename="m.onnx")
    sf.write(tmp_path / "tones.wav", two_tones(), RATE)
    return tmp_path


def lines(path: Path) -> list[bytes]:
    """The log's lines as bytes, as they are published."""
    return [line.encode() for line in path.read_text().splitlines() if line.strip()]


class Run:
    """``listener run --source -`` fed by the test, stderr collected line by line as it comes."""

    def __init__(self, work: Path, *args: str, model: str = "m.onnx") -> None:
        self.log = work / "run.jsonl"
        self.proc = subprocess.Popen(
            [*LISTENER, "run", "--source", "-", "--model", model, "--gate", "energy", "--log", str(self.log)]
            + ["--quiet", *args],
            cwd=work,
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.err: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stderr:
            self.err.append(raw.decode().rstrip("\n"))

    def said(self, fragment: str) -> list[str]:
        return [line for line in list(self.err) if fragment in line]

    def feed(self, repeats: int) -> None:
        """``repeats`` x (low, high): 2 detections each, made as fast as the pipeline goes."""
        self.proc.stdin.write(pcm16(two_tones()) * repeats)
        self.proc.stdin.flush()

    def logged(self) -> int:
        return len(lines(self.log)) if self.log.exists() else 0

    def finish(self, timeout: float = 60) -> int:
        self.proc.stdin.close()
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code


# ---------------------------------------------------------------- the URL


@pytest.mark.parametrize(
    "url, host, port, tls, user, password, prefix",
    [
        ("mqtt://broker", "broker", 1883, False, None, None, DEFAULT_PREFIX),
        ("mqtts://broker.lan/", "broker.lan", 8883, True, None, None, DEFAULT_PREFIX),
        ("mqtt://me:p%40ss%3Aw%2Frd@10.0.0.2:1884/home/lis", "10.0.0.2", 1884, False, "me", "p@ss:w/rd", "home/lis"),
        ("MQTT://[::1]:1900/a", "::1", 1900, False, None, None, "a"),
    ],
)  # fmt: skip
def test_parse_url(url, host, port, tls, user, password, prefix):
    b = parse_url(url)
    assert (b.host, b.port, b.tls, b.username, b.password, b.prefix) == (host, port, tls, user, password, prefix)
    assert password is None or password not in str(b)  # messages never show the password


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("http://broker", "unknown scheme 'http'"),
        ("broker:1883", "unknown scheme"),
        ("mqtt://", "no host"),
        ("mqtt://broker:99999", "out of range"),
        ("mqtt://broker:x", "not a broker URL"),
        ("mqtt://me:pa#ss@broker", "percent-encode"),
        ("mqtt://broker/a/+/b", "cannot hold '+'"),
    ],
)
def test_malformed_urls_say_what_is_wrong(url, fragment):
    with pytest.raises(UsageError, match=re.escape(fragment)):
        MqttOptions(url=url)


# ---------------------------------------------------------------- listener run -> broker -> subscriber


def test_run_publishes_each_detection_as_its_log_line(work, mosquitto):
    sub = Subscriber(mosquitto.port, ["home/listener/#"])
    res = run_cli(
        "run", "--source", "tones.wav", "--model", "m.onnx", "--gate", "energy", "--log", "run.jsonl",
        "--mqtt", mosquitto.url("home/listener"), cwd=work,
    )  # fmt: skip
    err = res.stderr.decode()
    assert res.returncode == 0, err
    logged = lines(work / "run.jsonl")
    assert [json.loads(x)["label"] for x in logged] == ["low", "high"]
    assert sub.wait(lambda: len(sub.on(f"home/listener/{MODEL}/detection")) == 2, 10)
    detections = sub.on(f"home/listener/{MODEL}/detection")
    assert [m.payload for m in detections] == logged  # the log line's JSON object, byte for byte
    assert not any(m.retain for m in detections)
    assert [m.payload for m in sub.on(f"home/listener/{MODEL}/last")] == logged
    assert sub.wait(lambda: [m.payload for m in sub.on("home/listener/status")] == [b"online", b"offline"], 10)
    assert "mqtt: connected to mqtt://127.0.0.1" in err and "2 detections delivered" in err
    sub.close()
    # What a dashboard that connects later sees: the retained last detection and the status.
    late = Subscriber(mosquitto.port, ["home/listener/#"])
    assert late.wait(lambda: len(late.messages) >= 2, 10)
    retained = {m.topic: m.payload for m in late.messages if m.retain}
    assert retained == {f"home/listener/{MODEL}/last": logged[-1], "home/listener/status": b"offline"}
    late.close()


def test_another_record_type_is_one_call(mosquitto):
    """What a digits model's ``sequence`` records will use: a topic suffix and a dict, in order with detections."""
    sub = Subscriber(mosquitto.port, ["p/#"])
    sink = MqttSink(MqttOptions(url=mosquitto.url("p")))
    meta = {"name": "digits", "version": "1.1", "labels": '["four", "unknown"]', "sample_rate": "16000"}
    sink.add_model(ModelInfo.from_metadata({**meta, "window_seconds": "1", "kind": "speech"}))
    det = Detection("2026-11-21T10:15:02.412+01:00", 1.5, "four", 0.97, [("four", 0.97)], "digits-1.1", "mic", 150.0)
    sink.write(det)
    sink.publish("digits/sequence", {"digits": "472", "confidence": 0.9})
    sink.write(det)
    with pytest.raises(ValueError, match="not a topic suffix"):
        sink.publish("digits/+", {})  # a wildcard: the caller's bug, said at once
    assert sub.wait(lambda: len(sub.messages) >= 5, 10)
    sink.close()
    assert [m.topic for m in sub.messages if not m.topic.endswith("/status")] == [
        "p/digits/detection", "p/digits/last", "p/digits/sequence", "p/digits/detection", "p/digits/last",
    ]  # fmt: skip
    assert json.loads(sub.on("p/digits/sequence")[0].payload) == {"digits": "472", "confidence": 0.9}
    sub.close()


def test_listener_run_publishes_a_digit_models_sequences_on_their_topic(mosquitto, tmp_path):
    """A sequence (ctc) model through ``listener run``: each digit on ``<model>/detection``, each
    string on ``<model>/sequence``, the same JSON objects as the log's lines."""
    import numpy as np
    from conftest import make_ctc_model, tone

    model = make_ctc_model(tmp_path, name="digits")
    x = np.concatenate([np.zeros(RATE // 2, np.float32), tone(300, 0.4), np.zeros(RATE // 8, np.float32)])
    x = np.concatenate([x, tone(3000, 0.4), np.zeros(int(1.5 * RATE), np.float32)])
    sf.write(tmp_path / "s.wav", x, RATE)
    sub = Subscriber(mosquitto.port, ["h/#"])
    log = tmp_path / "d.jsonl"
    res = run_cli(
        "run", "--source", tmp_path / "s.wav", "--model", model, "--log", log, "--quiet", "--mqtt", mosquitto.url("h")
    )
    assert res.returncode == 0, res.stderr.decode()
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["type"] for r in logged] == ["detection", "detection", "sequence"] and logged[2]["digits"] == "12"
    assert sub.wait(lambda: len(sub.on("h/digits/sequence")) == 1 and len(sub.on("h/digits/detection")) == 2, 10)
    assert json.loads(sub.on("h/digits/sequence")[0].payload) == logged[2]
    assert [json.loads(m.payload) for m in sub.on("h/digits/detection")] == logged[:2]
    sub.close()


# ---------------------------------------------------------------- Home Assistant discovery

# The keys Home Assistant documents for an MQTT event entity (integrations/event.mqtt) and for
# discovery payloads (integrations/mqtt: "origin"); unknown keys are ignored by HA, so a typo
# would silently lose a setting.
EVENT_KEYS = {
    "availability", "availability_mode", "availability_template", "availability_topic", "device", "device_class",
    "enabled_by_default", "encoding", "entity_category", "entity_picture", "event_types", "icon",
    "json_attributes_template", "json_attributes_topic", "name", "object_id", "payload_available",
    "payload_not_available", "platform", "qos", "state_topic", "unique_id", "value_template", "origin",
}  # fmt: skip
DEVICE_KEYS = {
    "configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model", "model_id", "name",
    "serial_number", "suggested_area", "sw_version", "via_device",
}  # fmt: skip
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
DISCOVERY_TOPIC = re.compile(r"(?P<prefix>[^/]+)/event/(?P<node>[a-zA-Z0-9_-]+)/(?P<object>[a-zA-Z0-9_-]+)/config")


def render(template: str, payload: bytes) -> dict:
    """Render a ``value_template`` as Home Assistant does: a sandboxed Jinja2 environment with its ``to_json``."""
    jinja2 = pytest.importorskip("jinja2.sandbox")
    env = jinja2.ImmutableSandboxedEnvironment()
    env.filters["to_json"] = json.dumps
    return json.loads(env.from_string(template).render(value=payload.decode(), value_json=json.loads(payload)))


def test_discovery_announces_an_event_entity_home_assistant_accepts(work, mosquitto):
    labels = ["baby cry", "dog bark", "silence"]
    make_test_model(work, labels, kind="sound", name="sounds", filename="s.onnx")
    (work / "mqtt.toml").write_text(f'mqtt = "{mosquitto.url("listener")}"\nmqtt_discovery = true\n')
    sub = Subscriber(mosquitto.port, ["homeassistant/#", "listener/#"])
    run = Run(work, "--config", "mqtt.toml", model="s.onnx")
    assert sub.wait(lambda: [m for m in sub.messages if m.topic.startswith("homeassistant/")], 20), run.err
    [config_msg] = [m for m in sub.messages if m.topic.startswith("homeassistant/")]
    late = Subscriber(mosquitto.port, ["homeassistant/#"])  # Home Assistant starting later finds it: retained
    assert late.wait(lambda: late.messages, 10) and (late.messages[0].payload, late.messages[0].retain) == (
        config_msg.payload, True,
    )  # fmt: skip
    late.close()
    topic = DISCOVERY_TOPIC.fullmatch(config_msg.topic)
    assert topic and topic["prefix"] == "homeassistant" and topic["object"] == "sounds"
    assert topic["node"] == topic_level(f"listener_{socket.gethostname()}")  # one device per listener
    config = json.loads(config_msg.payload)
    assert set(config) <= EVENT_KEYS, set(config) - EVENT_KEYS
    assert set(config["device"]) <= DEVICE_KEYS and set(config["origin"]) <= ORIGIN_KEYS
    assert config["device"]["identifiers"] and config["unique_id"] and config["origin"]["name"] == "listener"
    assert config["event_types"] == ["baby cry", "dog bark"]  # every label but the ones never detected
    assert config["state_topic"] == "listener/sounds/detection"
    assert (config["availability_topic"], config["payload_available"], config["payload_not_available"]) == (
        "listener/status", "online", "offline",
    )  # fmt: skip
    # A detection, rendered by the entity's template, is an event whose type is one of event_types.
    run.feed(1)
    assert sub.wait(lambda: sub.on("listener/sounds/detection"), 20)
    detection = sub.on("listener/sounds/detection")[0]
    event = render(config["value_template"], detection.payload)
    record = json.loads(detection.payload)
    assert event["event_type"] in config["event_types"] and event["event_type"] == record["label"]
    assert event["confidence"] == record["confidence"]  # the rest become attributes
    # Home Assistant restarting (its birth message): the listener announces itself again.
    sub.client.publish("homeassistant/status", "online", qos=1)
    assert sub.wait(lambda: len([m for m in sub.messages if m.topic == config_msg.topic]) == 2, 10)
    assert run.finish() == 0


# ---------------------------------------------------------------- nothing lost, nothing blocking


def test_broker_outage_loses_nothing_and_keeps_the_order(work, mosquitto):
    sub = Subscriber(mosquitto.port, ["t/#"], session="outage-test")  # a persistent session survives the restart
    run = Run(work, "--mqtt", mosquitto.url("t"))
    assert wait_for(lambda: run.said("mqtt: connected to"), 30), run.err
    run.feed(2)
    assert sub.wait(lambda: len(sub.on(f"t/{MODEL}/detection")) == 4, 30)
    before = {m.payload for m in sub.on(f"t/{MODEL}/detection")}

    mosquitto.stop()
    run.feed(3)  # 6 detections while the broker is down: logged at once, queued for MQTT
    assert wait_for(lambda: run.logged() == 10, 30), run.err
    assert wait_for(lambda: run.said("retrying"), 10), run.err
    mosquitto.start()
    assert wait_for(lambda: run.said("connected again"), 60), run.err
    run.feed(1)
    assert run.finish() == 0

    logged = lines(run.log)
    assert len(logged) == 12
    assert sub.wait(lambda: len({m.payload for m in sub.on(f"t/{MODEL}/detection")}) == 12, 30)
    received = [m.payload for m in sub.on(f"t/{MODEL}/detection")]
    first = list(dict.fromkeys(received))
    assert first == logged  # every detection, in the order of the log
    twice = [p for p in set(received) if received.count(p) > 1]
    assert all(p in before for p in twice)  # QoS 1: only a message in flight when the broker went away may repeat
    err = "\n".join(run.err)
    assert len(run.said("lost the connection")) == 1 and len(run.said("cannot connect")) <= 1, err
    assert "sending 6 queued detections" in err and "12 detections delivered" in err
    sub.close()


def test_a_full_queue_drops_the_oldest_and_says_how_many(work, mosquitto):
    sub = Subscriber(mosquitto.port, ["q/#"], session="queue-test")
    run = Run(work, "--mqtt", mosquitto.url("q"), "--mqtt-queue", "3")
    assert wait_for(lambda: run.said("mqtt: connected to"), 30), run.err
    mosquitto.stop()
    run.feed(4)  # 8 detections, room for 3
    assert wait_for(lambda: run.logged() == 8, 30), run.err
    assert wait_for(lambda: run.said("queue full (3 detections"), 10), run.err
    mosquitto.start()
    assert wait_for(lambda: run.said("connected again"), 60), run.err
    assert run.finish() == 0
    logged = lines(run.log)
    assert sub.wait(lambda: len(sub.on(f"q/{MODEL}/detection")) >= 3, 30)
    assert [m.payload for m in sub.on(f"q/{MODEL}/detection")] == logged[-3:]  # the newest three
    err = "\n".join(run.err)
    assert "(5 oldest dropped: the queue was full)" in err and "5 dropped, oldest first" in err
    assert len(run.said("queue full")) == 1, err  # said once, not once per detection
    sub.close()


def test_broker_never_up_the_run_logs_and_exits_cleanly(work):
    res = run_cli(
        "run", "--source", "tones.wav", "--model", "m.onnx", "--gate", "energy", "--log", "run.jsonl",
        "--mqtt", f"mqtt://127.0.0.1:{free_port()}/t", cwd=work,
    )  # fmt: skip
    err = res.stderr.decode()
    assert res.returncode == 0, err
    assert [json.loads(x)["label"] for x in lines(work / "run.jsonl")] == ["low", "high"]
    said = [line for line in err.splitlines() if "cannot connect" in line]
    assert len(said) == 1 and "connection refused" in said[0], err  # once, though it retried during the run
    assert "2 not delivered (no connection to the broker; they are in the log)" in err
    assert "Traceback" not in err


def test_writes_return_while_the_broker_does_not_answer():
    """A broker that accepts the connection and then says nothing: the pipeline's calls still return,
    the queue holds what it may, and close() does not wait for it."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    sink = MqttSink(MqttOptions(url=f"mqtt://127.0.0.1:{silent.getsockname()[1]}/t", queue=5))
    det = Detection("t", 0.0, "low", 0.9, [("low", 0.9)], "m-1", "x", None)
    for _ in range(8):
        sink.write(det)
    status = sink.status()
    assert (status.state, status.queued, status.dropped) == ("connecting", 5, 3)
    sink.close()
    assert sink.status().state == "off"
    silent.close()


def test_bad_credentials_are_said_once_and_good_ones_work(work, tmp_path):
    password = "p@ss:w/rd"
    broker = Mosquitto(tmp_path / "auth", users={"listener": password}).start()
    try:
        res = run_cli(
            "run", "--source", "tones.wav", "--model", "m.onnx", "--gate", "energy", "--log", "bad.jsonl",
            "--mqtt", broker.url("t", "listener", "wrong"), cwd=work,
        )  # fmt: skip
        err = res.stderr.decode()
        assert res.returncode == 0, err
        said = [line for line in err.splitlines() if "cannot connect" in line]
        assert len(said) == 1 and "the broker refused the connection: Not authorized" in said[0], err
        assert "wrong" not in err  # the password is never printed
        assert len(lines(work / "bad.jsonl")) == 2

        sub = Subscriber(broker.port, ["t/#"], auth=("listener", password))
        res = run_cli(
            "run", "--source", "tones.wav", "--model", "m.onnx", "--gate", "energy", "--log", "good.jsonl",
            "--mqtt", broker.url("t", "listener", "p%40ss%3Aw%2Frd"), cwd=work,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr.decode()
        assert sub.wait(lambda: len(sub.on(f"t/{MODEL}/detection")) == 2, 10)
        sub.close()
    finally:
        broker.stop()


def test_tls_with_its_ca_and_with_an_untrusted_certificate(work, tmp_path):
    ca, cert, key = make_certificates(tmp_path / "certs")
    broker = Mosquitto(tmp_path / "tls", tls=(cert, key)).start()
    try:
        sub = Subscriber(broker.port, ["t/#"], ca=ca)
        args = ["run", "--source", "tones.wav", "--model", "m.onnx", "--gate", "energy", "--log", "tls.jsonl"]
        res = run_cli(*args, "--mqtt", broker.url("t"), "--mqtt-ca", str(ca), cwd=work)
        assert res.returncode == 0, res.stderr.decode()
        assert sub.wait(lambda: len(sub.on(f"t/{MODEL}/detection")) == 2, 10)
        sub.close()

        res = run_cli(*args, "--mqtt", broker.url("t"), cwd=work)  # the system CAs do not know ours
        err = res.stderr.decode()
        assert res.returncode == 0, err
        said = [line for line in err.splitlines() if "cannot connect" in line]
        assert len(said) == 1 and "TLS: the broker's certificate is not trusted" in said[0], err
        assert "--mqtt-ca" in said[0]

        plain = broker.url("t").replace("mqtts://localhost", "mqtt://127.0.0.1")
        res = run_cli(*args, "--mqtt", plain, cwd=work)  # plain MQTT to the TLS port
        err = res.stderr.decode()
        assert res.returncode == 0, err
        said = [line for line in err.splitlines() if "cannot connect" in line]
        assert len(said) == 1 and "use mqtts://" in said[0], err
    finally:
        broker.stop()


@pytest.mark.parametrize(
    "args, config, fragment",
    [
        (["--mqtt", "http://broker"], None, "unknown scheme 'http'"),
        (["--mqtt", "mqtt://broker:70000/x"], None, "out of range"),
        (["--mqtt", "mqtt://broker", "--mqtt-ca", "ca.pem"], None, "--mqtt-ca is for mqtts://"),
        (["--mqtt", "mqtts://broker", "--mqtt-ca", "missing.pem"], None, "'missing.pem': file not found"),
        (["--mqtt-discovery"], None, "--mqtt-discovery needs --mqtt URL"),
        (["--mqtt", "mqtt://broker", "--mqtt-discovery-prefix", "home/assistant"], None, "one topic level"),
        (["--config", "c.toml"], 'mqtt = "mqtt://broker"\nmqtt_queue = 0\n', "--mqtt-queue must be"),
        (["--config", "c.toml"], 'mqtt = "mqtt://broker"\nmqtt_discovery = "yes"\n', "must be true or false"),
        (["--config", "c.toml"], "mqtt = 1883\n", "'mqtt' must be a string"),
    ],
)
def test_malformed_url_or_option_is_a_usage_error(work, args, config, fragment):
    (work / "ca.pem").write_text("")
    if config:
        (work / "c.toml").write_text(config)
    res = run_cli("run", "--model", "m.onnx", "--source", "tones.wav", *args, cwd=work)
    assert_clean_error(res, 2, fragment)


def test_mqtt_queue_must_be_a_positive_number(work):
    for value in ("0", "x"):
        res = run_cli("run", "--mqtt", "mqtt://broker", "--mqtt-queue", value, cwd=work)
        assert res.returncode == 2 and b"--mqtt-queue" in res.stderr and b"Traceback" not in res.stderr


def test_documented_defaults_are_the_sinks():
    """docs/usage.md and docs/home-assistant.md quote MqttOptions' defaults; they must not drift."""
    root = Path(__file__).resolve().parents[2]
    usage = (root / "docs" / "usage.md").read_text()
    ha = (root / "docs" / "home-assistant.md").read_text()
    d = MqttOptions(url="mqtt://broker")
    assert f"| {d.queue} |" in usage and f"| `{d.discovery_prefix}` |" in usage
    assert f"prefix `{DEFAULT_PREFIX}`" in usage
    assert f"default {d.queue})" in ha and f"up to every {d.retry_max_s} s" in ha and f"up to {d.drain_s:g} s" in ha
