"""Status bar: execution provider, model, last decision latency, CPU use, audio overruns, MQTT broker.

CPU use is this process's CPU time (all threads: audio, model, drawing) over
wall time, from ``time.process_time`` -- the same quantity ``psutil``'s
``cpu_percent`` reports, without adding a dependency to the ``gui`` extra.
100 % means one full core.
"""

from __future__ import annotations

import time

from PySide6.QtWidgets import QLabel, QStatusBar

from listener.mqtt import MqttStatus


class CpuMeter:
    """Process CPU % between successive ``sample()`` calls."""

    def __init__(self) -> None:
        self._wall = time.monotonic()
        self._cpu = time.process_time()

    def sample(self) -> float:
        wall, cpu = time.monotonic(), time.process_time()
        dw = wall - self._wall
        pct = 100.0 * (cpu - self._cpu) / dw if dw > 0 else 0.0
        self._wall, self._cpu = wall, cpu
        return pct


class StatusPanel:
    """Permanent labels in the window's status bar; ``show_*`` methods only set text."""

    def __init__(self, bar: QStatusBar) -> None:
        self.bar = bar
        self.provider = self._label("provider: –", "ONNX Runtime execution provider (CUDA or CPU)")
        self.model = self._label("model: –", "Model name and version")
        self.latency = self._label("latency: –", "From the end of the audio that made the last window to its decision")
        self.cpu = self._label("CPU: –", "CPU use of this app (all threads; 100 % = one core)")
        self.overruns = self._label("overruns: 0", "Audio blocks lost because processing fell behind")
        self.fps = self._label("", "Spectrogram frames per second")
        self.mqtt = self._label("MQTT: off", "")
        self.show_mqtt(None)

    def _label(self, text: str, tip: str) -> QLabel:
        lab = QLabel(text)
        lab.setToolTip(tip)
        self.bar.addPermanentWidget(lab)
        return lab

    def show_session(self, provider: str, model: str) -> None:
        short = provider.replace("ExecutionProvider", "")
        self.provider.setText(f"provider: {short}")
        self.model.setText(f"model: {model}")

    def show_latency(self, ms: float | None) -> None:
        self.latency.setText("latency: –" if ms is None else f"latency: {ms:.0f} ms")

    def show_load(self, cpu_pct: float, overruns: int, fps: float) -> None:
        self.cpu.setText(f"CPU: {cpu_pct:.0f} %")
        self.overruns.setText(f"overruns: {overruns}")
        self.overruns.setStyleSheet("color: #d0452f;" if overruns else "")
        self.fps.setText(f"{fps:.0f} fps" if fps else "")

    def show_mqtt(self, status: MqttStatus | None) -> None:
        """Broker state (connected / connecting / retrying / off) and detections waiting to be sent."""
        if status is None or status.state == "off":
            self.mqtt.setText("MQTT: off")
            self.mqtt.setToolTip("Not publishing to MQTT (listener gui --mqtt URL turns it on; docs/home-assistant.md)")
            self.mqtt.setStyleSheet("")
            return
        self.mqtt.setText(f"MQTT: {status.state}, {status.queued} queued")
        tip = [f"Broker {status.broker}: {status.state}", f"{status.delivered} detections delivered"]
        if status.queued:
            tip.append(f"{status.queued} waiting for the broker (kept in memory, sent in order)")
        if status.dropped:
            tip.append(f"{status.dropped} dropped, oldest first, because the queue was full")
        if status.detail:
            tip.append(status.detail)
        self.mqtt.setToolTip("\n".join(tip))
        self.mqtt.setStyleSheet("color: #d0452f;" if status.state == "retrying" or status.dropped else "")

    def message(self, text: str, ms: int = 0) -> None:
        self.bar.showMessage(text, ms)
