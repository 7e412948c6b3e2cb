"""The prover worker: the claim-run-report loop, the process it runs in, the child that runs
each job, and the job handlers."""
