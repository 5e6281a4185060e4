"""The vein2vein worker's entry point: `python worker.py` (or `vein2vein worker`).

It connects to `TEMPORAL_ADDRESS` or, when that is unset, starts the embedded Temporal dev
server; everything it runs is built in `vein2vein.worker`.
"""

from vein2vein.worker import main

if __name__ == "__main__":
    main()
