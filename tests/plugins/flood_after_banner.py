"""Prints a banner instead of a handshake, then floods stdout and waits: the host must
refuse it without getting stuck on the pipe it no longer reads."""

import sys
import time

sys.stdout.write("starting up...\n")
sys.stdout.write("x" * 300_000 + "\n")
sys.stdout.flush()
time.sleep(60)
