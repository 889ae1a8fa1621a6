"""The MQTT sink: delivery latency, CPU, and what arrives after a broker outage.

    python -m bench.bench_mqtt [--seconds 60] [--outage 60] [--parts latency,cpu,outage]

Needs Debian's mosquitto (started here on a free localhost port, as the tests do) and the
bench extra (psutil); no data folder. Writes bench/results/mqtt.json.

- latency: ``MqttSink.write`` (the moment the pipeline hands a detection over) -> the
  message's arrival at a paho subscriber in another process, both on this machine
  (time.monotonic is one clock for every process on Linux). Detections at a steady rate.
  The same run gives the sink's CPU per detection (this process's CPU time, less the same
  loop with a sink that does nothing), and before that its CPU while connected and idle.
- cpu: ``listener run --model digits --threads 1`` on a real-time paced file, without and
  with ``--mqtt`` (a connected broker): 60 s of silence (idle: no detections) and the
  digits sample clip looped (a digit every few seconds). CPU as bench/bench_cpu.py takes it.
- outage: ``listener run`` on the digits clip looped, broker stopped after 10 s and started
  again ``--outage`` s later; counts what reached a subscriber (persistent session) against
  the log, in order, and how long after the broker's return the listener reconnected.
  Once with the default queue, once with ``--mqtt-queue 5`` (the oldest dropped and counted).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.bench_cpu import measure_run
from bench.machine import machine
from bench.record import write_record
from listener.events import Detection
from listener.mqtt import MqttOptions, MqttSink
from tests.broker import Mosquitto, Subscriber  # the test suite's mosquitto launcher (run from the repo root)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


RESULTS = BENCH / "results"
CACHE = BENCH / ".cache"
RATE = 16000
CLIP = ROOT / "assets" / "samples" / "digits.wav"

SUBSCRIBER = """
c = paho.Client(paho.CallbackAPIVersion.VERSION2)
c.on_connect = lambda c, u, f, rc, p: c.subscribe(sys.argv[2], qos=1)
c.on_subscribe = lambda *a: print("ready", flush=True)
c.on_message = lambda c, u, m: print(time.monotonic(), m.payload.decode(), flush=True)
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_forever()
"""


def detection(i: int) -> Detection:
    return Detection("2026-11-21T10:15:02.412+01:00", float(i), "nine", 0.97, [("nine", 0.97)], "digits-1.1", "mic", 9)


def latency(broker: Mosquitto, count: int, rate: float, idle_s: float = 30.0) -> dict:
    """``count`` detections at ``rate`` per second through a real MqttSink to a subscriber process."""
    sub = subprocess.Popen(
        [sys.executable, "-c", SUBSCRIBER, str(broker.port), "bench/+/detection"], stdout=subprocess.PIPE, text=True
    )
    assert sub.stdout.readline().strip() == "ready"
    arrivals: dict[float, float] = {}

    def read() -> None:
        for line in sub.stdout:
            at, payload = line.split(" ", 1)
            arrivals[json.loads(payload)["stream_s"]] = float(at)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sink = MqttSink(MqttOptions(url=broker.url("bench")))
    deadline = time.monotonic() + 10
    while sink.status().state != "connected" and time.monotonic() < deadline:
        time.sleep(0.05)

    def drive(write) -> tuple[dict[float, float], float]:
        sent, period = {}, 1.0 / rate
        c0, t = time.process_time(), time.monotonic()
        for i in range(count):
            t += period
            time.sleep(max(0.0, t - time.monotonic()))
            d = detection(i)
            sent[d.stream_s] = time.monotonic()
            write(d)
        return sent, time.process_time() - c0

    c0, t0 = time.process_time(), time.monotonic()
    time.sleep(idle_s)  # connected, nothing to send: paho's network thread wakes once a second
    idle = 100.0 * (time.process_time() - c0) / (time.monotonic() - t0)
    _, baseline_cpu = drive(lambda d: None)
    sent, cpu = drive(sink.write)
    deadline = time.monotonic() + 10
    while len(arrivals) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    sink.close()
    sub.terminate()
    ms = np.array([1000.0 * (arrivals[k] - sent[k]) for k in sent if k in arrivals])
    return {
        "what": "MqttSink.write -> a paho subscriber in another process has the message (localhost mosquitto)",
        "detections": count,
        "rate_per_s": rate,
        "arrived": len(ms),
        "latency_ms_p50": round(float(np.percentile(ms, 50)), 2),
        "latency_ms_p95": round(float(np.percentile(ms, 95)), 2),
        "latency_ms_max": round(float(ms.max()), 2),
        "sink_cpu_us_per_detection": round(1e6 * (cpu - baseline_cpu) / count, 1),
        "sink_idle_cpu_percent": round(idle, 3),
        "idle_seconds": idle_s,
    }


def paced_file(name: str, x: np.ndarray) -> Path:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / name
    sf.write(str(path), x, RATE, subtype="PCM_16")
    return path


def digits_loop(seconds: float) -> Path:
    x, sr = sf.read(str(CLIP), dtype="float32")
    assert sr == RATE
    return paced_file(f"mqtt_digits_{int(seconds)}s.wav", np.resize(x, int(seconds * RATE)))


def listener_cmd(source: Path, log: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "listener", "run", "--source", str(source), "--model", "digits", "--threads", "1",
        "--log", str(log), "--quiet", *extra,
    ]  # fmt: skip


def cpu(broker: Mosquitto, seconds: float) -> list[dict]:
    """`listener run` with and without --mqtt, on silence and on the digits clip looped."""
    rows = []
    streams = {
        "silence (no detections)": paced_file(f"mqtt_silence_{int(seconds)}s.wav", np.zeros(int(seconds * RATE))),
        "digits.wav looped": digits_loop(seconds),
    }
    for stream, source in streams.items():
        for mqtt in (False, True):
            log = CACHE / "mqtt_cpu.jsonl"
            log.unlink(missing_ok=True)
            extra = ["--mqtt", broker.url("cpu")] if mqtt else []
            run = measure_run(listener_cmd(source, log, *extra))
            n = len(log.read_text().splitlines()) if log.exists() else 0
            rows.append(
                {
                    "stream": stream,
                    "mqtt": mqtt,
                    "seconds": round(run["seconds"], 1),
                    "cpu_percent_of_one_core": round(run["cpu_percent"], 2),
                    "detections": n,
                    "delivered": _delivered(run["stderr"]) if mqtt else None,
                }
            )
            print(rows[-1], flush=True)
    return rows


def _delivered(stderr: str) -> int | None:
    m = re.search(r"mqtt: (\d+) detections? delivered", stderr)
    return int(m.group(1)) if m else None


def outage(workdir: Path, seconds: float, down_after: float, down_for: float, queue: int | None) -> dict:
    """Stop the broker ``down_after`` s into a run, start it again ``down_for`` s later; count what arrives."""
    broker = Mosquitto(workdir / f"outage{queue or ''}").start()
    sub = Subscriber(broker.port, ["outage/#"], session=f"bench-outage-{queue}")
    source = digits_loop(seconds)
    log = CACHE / "mqtt_outage.jsonl"
    log.unlink(missing_ok=True)
    extra = ["--mqtt", broker.url("outage")] + (["--mqtt-queue", str(queue)] if queue else [])
    proc = subprocess.Popen(listener_cmd(source, log, *extra), stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
    reader.start()
    while not any("listening" in line for line in err):
        time.sleep(0.05)
    t0 = time.monotonic()
    time.sleep(down_after)
    broker.stop()
    logged_before = len(log.read_text().splitlines()) if log.exists() else 0
    time.sleep(down_for)
    logged_at_restart = len(log.read_text().splitlines()) if log.exists() else 0
    broker.start()
    back = time.monotonic()
    reconnected = None
    while proc.poll() is None:
        if reconnected is None and any("connected again" in line for line in err):
            reconnected = time.monotonic() - back
        time.sleep(0.05)
    reader.join(5)
    if reconnected is None and any("connected again" in line for line in err):
        reconnected = time.monotonic() - back
    logged = [line.encode() for line in log.read_text().splitlines()]
    logged_during = logged_at_restart - logged_before
    topic = "outage/digits/detection"
    sub.wait(lambda: len({m.payload for m in sub.on(topic)}) >= len(logged), 5)  # all, or what there is
    received = [m.payload for m in sub.on(topic)]
    unique = list(dict.fromkeys(received))
    missing = [p for p in logged if p not in set(unique)]
    flags = ["." if p in set(unique) else "x" for p in logged]  # a dropped run: ....xxxxx.....
    sub.close()
    broker.stop()
    return {
        "queue": queue or MqttOptions.queue,
        "run_seconds": round(time.monotonic() - t0, 1),
        "broker_down_after_s": down_after,
        "broker_down_for_s": down_for,
        "detections_logged": len(logged),
        "logged_while_down": logged_during,
        "delivered": len(unique),
        "in_log_order": unique == [p for p in logged if p in set(unique)],
        "missing": len(missing),
        "missing_are_one_run": bool(re.fullmatch(r"\.*x+\.*", "".join(flags))),
        "dropped_said": int(m.group(1)) if (m := re.search(r"(\d+) dropped, oldest first", "".join(err))) else 0,
        "duplicates": len(received) - len(unique),
        "duplicated_log_lines": sorted(logged.index(p) + 1 for p in set(received) if received.count(p) > 1),
        "logged_before_the_outage": logged_before,
        "reconnected_s_after_broker_back": None if reconnected is None else round(reconnected, 1),
        "listener_said": [line.strip() for line in err if "mqtt:" in line],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each CPU run")
    ap.add_argument("--outage", type=float, default=60.0, help="how long the broker is down")
    ap.add_argument("--count", type=int, default=300, help="detections for the latency part")
    ap.add_argument("--rate", type=float, default=10.0, help="detections per second for the latency part")
    ap.add_argument("--parts", default="latency,cpu,outage")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    out = RESULTS / "mqtt.json"
    result = json.loads(out.read_text()) if out.exists() else {}
    result.update(
        {
            "benchmark": "MQTT sink (listener/mqtt.py) with a local mosquitto",
            "machine": machine(),
            "mosquitto": _mosquitto_version(),
            "date": time.strftime("%Y-%m-%d %H:%M"),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if parts & {"latency", "cpu"}:
            broker = Mosquitto(work / "main").start()
            try:
                if "latency" in parts:
                    result["latency"] = latency(broker, args.count, args.rate)
                    print(result["latency"], flush=True)
                if "cpu" in parts:
                    result["cpu"] = cpu(broker, args.seconds)
            finally:
                broker.stop()
        if "outage" in parts:
            length = 10 + args.outage + 40
            result["outage"] = [outage(work, length, 10, args.outage, q) for q in (None, 5)]
            for o in result["outage"]:
                print({k: v for k, v in o.items() if k != "listener_said"}, flush=True)
    write_record(out, result)


def _mosquitto_version() -> str:
    from broker import mosquitto_binary

    res = subprocess.run([mosquitto_binary(), "-h"], capture_output=True, text=True)
    return (res.stdout or res.stderr).splitlines()[0].strip()


if __name__ == "__main__":
    main()
