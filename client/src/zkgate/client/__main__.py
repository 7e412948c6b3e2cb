"""`python -m zkgate.client`: the zkgate command."""

import sys

from zkgate.client.cli.main import main

sys.exit(main())
