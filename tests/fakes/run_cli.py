"""`python -m tests.fakes.run_cli ARGS...`: the `connector` CLI with the test ledger installed."""

from __future__ import annotations

import sys

from tests.fakes import oauth_ledger

if __name__ == "__main__":
    oauth_ledger.patched_registry()
    from connector.cli import main

    main(sys.argv[1:])
