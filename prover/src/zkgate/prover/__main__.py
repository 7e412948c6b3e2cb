import sys

from zkgate.prover.worker.process import main

sys.exit(main())
