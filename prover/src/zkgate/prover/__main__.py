import sys

from zkgate.prover.process import main

sys.exit(main())
