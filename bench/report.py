"""Print the runtime benchmark table for docs/benchmarks.md from bench/results/*.json.

python -m bench.report
"""

from __future__ import annotations

import json
from pathlib import Path

from listener.config import RunOptions

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def main() -> None:
    rows = []
    a = load("analyze.json")
    if a:
        acc = a["accuracy_vs_truth"]
        rows.append(
            (
                "`listener analyze` real-time factor, one-hour file, one core (`taskset -c 0`, "
                "`--threads 1`), whole command incl. start-up",
                ">= 1000x",
                f"**{a['realtime_factor']:.0f}x** ({a['audio_seconds']} s in {min(a['wall_seconds_runs']):.2f} s; "
                f"{acc['detections']} detections, {acc['correct']} correct, of {acc['events']} digits)",
                "python -m bench.bench_analyze",
            )
        )
    for path in sorted(RESULTS.glob("cpu*.json")):
        c = json.loads(path.read_text())
        flags = (
            (" --mic" if "mic" in path.name else "")
            + (" --threads ''" if "default_threads" in path.name else "")
            + (f" --model {c['model']}" if c["model"] != "digits" else "")
        )
        for clip in ("digits", "sounds"):
            if f"{clip}.wav looped" in c["stream"]:
                flags += f" --input assets/samples/{clip}.wav"
        if c.get("hop", "model default") != "model default":
            flags += f" --hop {c['hop']}"
        block = c.get("block_ms", 30)
        if block != RunOptions.block_ms:
            flags += f" --block-ms {block}"
        if c.get("frames_per_call", "default") != "default":
            flags += f" --frames-per-call {c['frames_per_call']}"
        floor = (
            f"; an idle {block} ms wake-up loop: {c['wakeup_floor_percent']:.2f} %"
            if "wakeup_floor_percent" in c
            else ""
        )
        if "pipeline_only_percent" in c:
            floor += f"; the pipeline's own work, unpaced: {c['pipeline_only_percent']:.2f} %"
        rows.append(
            (
                f"CPU of `listener run --model {c['model']}` listening live ({c['stream']}; "
                f"{c['seconds']:.0f} s; threads: {c['threads']}; {block} ms blocks)",
                "<= 2 %",
                f"**{c['cpu_percent_of_one_core']:.2f} %** of one core (max of 1 s samples "
                f"{c['per_second_max']:.0f} %{floor})",
                "python -m bench.bench_cpu" + flags,
            )
        )
    for path in sorted(RESULTS.glob("latency*.json")):
        lat = json.loads(path.read_text())
        block = lat.get("block_ms", 30)
        if "strings" in lat:  # bench_latency --strings: each digit of strings said in one breath
            fpc = lat.get("frames_per_call")
            rows.append(
                (
                    f"Latency, end of each digit of a string said in one breath -> its log line ({lat['model']}; "
                    f"{lat['digits_found']} of {lat['digits_said']} digits found, {lat['strings_with_every_digit']} "
                    f"of {lat['strings']} strings whole; {block} ms blocks; {fpc} frames per call)",
                    "p50 <= 250 ms",
                    f"**p50 {lat['latency_ms_p50']:.0f} ms, p95 {lat['latency_ms_p95']:.0f} ms** (the model decides "
                    f"p50 {lat['decision_frame_after_word_end_ms_p50']:.0f} ms of stream after the word's end; "
                    f"sequence records p50 {lat['sequence_latency_ms_p50']:.0f} ms after the last digit)",
                    f"python -m bench.bench_latency --strings {lat['strings']} --model {lat['model']}"
                    + (f" --frames-per-call {fpc}" if path.stem.endswith(f"_fpc{fpc}") else ""),
                )
            )
            continue
        rows.append(
            (
                f"Latency, end of a spoken digit -> log line written ({lat['detections_on_a_digit']} "
                f"detections of {lat['digits_played']} digits; {block} ms blocks)",
                "p50 <= 250 ms",
                f"**p50 {lat['latency_ms_p50']:.0f} ms, p95 {lat['latency_ms_p95']:.0f} ms** (max "
                f"{lat['latency_ms_max']:.0f} ms; "
                f"the log's `latency_ms` field p50 {lat['latency_field_ms_p50']:.0f} ms)",
                "python -m bench.bench_latency" + (f" --block-ms {block}" if block != RunOptions.block_ms else ""),
            )
        )
    mqtt_rows = []
    m = load("mqtt.json")
    if m and "latency" in m:
        lat = m["latency"]
        mqtt_rows.append(
            (
                f"MQTT: a detection handed to the sink -> at a subscriber (another process; mosquitto on "
                f"localhost; {lat['detections']} detections at {lat['rate_per_s']:g}/s)",
                "measure",
                f"**p50 {lat['latency_ms_p50']:.1f} ms, p95 {lat['latency_ms_p95']:.1f} ms** (max "
                f"{lat['latency_ms_max']:.1f} ms; {lat['arrived']} arrived); the sink's CPU: "
                f"{lat['sink_cpu_us_per_detection']:.0f} µs per detection"
                + (
                    f", {lat['sink_idle_cpu_percent']:.2f} % of one core connected and idle"
                    if "idle_seconds" in lat
                    else ""
                ),
                "python -m bench.bench_mqtt --parts latency",
            )
        )
    for stream in sorted({r["stream"] for r in (m or {}).get("cpu", [])}):
        by = {r["mqtt"]: r for r in m["cpu"] if r["stream"] == stream}
        if False in by and True in by:
            off, on = by[False], by[True]
            mqtt_rows.append(
                (
                    f"MQTT: CPU added to `listener run --model digits` by `--mqtt` (real-time paced file, {stream}; "
                    f"{on['seconds']:.0f} s; threads: 1)",
                    "measure",
                    f"{off['cpu_percent_of_one_core']:.2f} % without, {on['cpu_percent_of_one_core']:.2f} % with: "
                    f"**{on['cpu_percent_of_one_core'] - off['cpu_percent_of_one_core']:+.2f} points** "
                    f"({on['detections']} detections, {on['delivered']} delivered)",
                    "python -m bench.bench_mqtt --parts cpu",
                )
            )
    for o in (m or {}).get("outage", []):
        dups = o["duplicates"]
        mqtt_rows.append(
            (
                f"MQTT: detections delivered after a {o['broker_down_for_s']:.0f} s broker outage "
                f"(`listener run`, digits.wav looped, queue {o['queue']})",
                "all, up to the queue",
                f"**{o['delivered']} of {o['detections_logged']}** logged ({o['logged_while_down']} while the broker "
                f"was down; {o['missing']} missing, {o['dropped_said']} dropped as said); in order: "
                f"{'yes' if o['in_log_order'] else 'NO'}; {dups} duplicate{'' if dups == 1 else 's'} (QoS 1); "
                f"reconnected {o['reconnected_s_after_broker_back']} s after the broker was back",
                "python -m bench.bench_mqtt --parts outage",
            )
        )
    t = load("tutorial.json")
    if t:
        rows.append(
            (
                "Tutorial approach (librosa MFCC-mean + torch MLP per clip) vs `listener analyze`, "
                f"{t['clips']} clips ({t['audio_seconds']:.0f} s), one core",
                "ratio",
                f"processing: {t['tutorial_loop_s']:.2f} s vs {t['listener_processing_s']:.2f} s = "
                f"**{t['ratio_loop_vs_processing']}x**; "
                f"whole commands: {t['tutorial_command_s']:.2f} s vs {t['listener_command_s']:.2f} s "
                f"= **{t['ratio_command_vs_command']}x**",
                "python -m bench.bench_tutorial",
            )
        )
    table(rows)
    if mqtt_rows:
        print(f"\nMQTT ({m['machine']}, {m['mosquitto']}, {m['date']}; docs/benchmarks.md, section MQTT):\n")
        table(mqtt_rows)


def table(rows: list[tuple[str, str, str, str]]) -> None:
    print("| measure | goal | result | command |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
