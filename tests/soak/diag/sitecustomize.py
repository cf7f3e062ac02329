"""Loaded by the soak's worker processes (``PYTHONPATH``): SIGPWR makes a worker write every
thread's Python stack to its log and carry on, so the harness can show where a stuck
worker is without killing it (chDB takes over SIGABRT and the profiling signals)."""

import faulthandler
import signal
import sys

faulthandler.register(signal.SIGPWR, file=sys.stderr, all_threads=True)
