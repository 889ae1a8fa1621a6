"""The desktop app (``listener gui``): PySide6 window over the same pipeline as the CLI.

Modules: ``app`` (entry point), ``window`` (layout and wiring), ``worker`` (the
runtime in a thread, signals), ``waveform`` / ``spectrogram`` / ``bars`` /
``history`` (views), ``controls`` (pickers and live controls), ``status``
(status bar), ``settings`` (QSettings). See docs/gui.md.
"""
