"""Acting as the agent: swap two workspace entries with renameat2(RENAME_EXCHANGE), for ever.

Usage: racer.py A B. Started by the containment tests next to a host-side tool call and killed
when it returns; a separate process, so the swaps run truly in parallel with the worker.
"""

import ctypes
import os
import sys

AT_FDCWD = -100
RENAME_EXCHANGE = 2

libc = ctypes.CDLL(None, use_errno=True)
first, second = (os.fsencode(path) for path in sys.argv[1:3])
sys.stdout.write("racing\n")
sys.stdout.flush()
while True:
    libc.renameat2(AT_FDCWD, first, AT_FDCWD, second, RENAME_EXCHANGE)
