"""`python -m zkgate.client`: the zkgate command."""

import sys

from zkgate.client.cli import main

sys.exit(main())
