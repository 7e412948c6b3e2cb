"""The kernel every zkgate side shares: document formats, signing, commitments, cards, receipts
and protocol statements.

Nothing here imports grpc or ezkl at load, so a gateway, a prover and the light client can all
depend on it without pulling in what only one of them needs (tests/deployment/test_layering.py).
"""
