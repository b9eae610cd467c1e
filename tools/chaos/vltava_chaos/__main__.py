import os
import sys
import traceback

from .cli import main

try:
    code = main()
except SystemExit as e:  # SIGTERM (cli._exit_on_sigterm) or argparse
    code = e.code if isinstance(e.code, int) else 2
except BaseException:
    traceback.print_exc()
    code = 2
sys.stdout.flush()
sys.stderr.flush()
# Not sys.exit: a client abandoned after a hung call (workloads.bounded)
# must not get a destructor that waits for that call forever.
os._exit(code)
