"""Prints a 100 KiB 'handshake' line: the host must refuse it, not buffer forever."""

import sys
import time

sys.stdout.write("1|1|unix|" + "x" * 100_000)
sys.stdout.flush()
time.sleep(60)
