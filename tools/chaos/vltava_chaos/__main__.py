import os
import sys

from .cli import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
# Not sys.exit: a client abandoned after a hung call (workloads.bounded)
# must not get a destructor that waits for that call forever.
os._exit(code)
