"""Checking a served prediction against its proof, offline, trusting only a pinned commitment.

Every check that can fail has its own Reason (`reasons`), so that a caller (the CLI, a contest
protocol) can tell a forged proof from a lying gateway from a mere configuration problem. The
order matters: the bundle is authenticated first (`commitment`), because the settings it carries
decide how every later number is read (`circuit_layout`); then the SNARK (`snark`), what it says
about these inputs (`proven_values`, `batch_entry`), all joined in `proof`; `prediction` adds
the served tensors and the receipt.
"""
