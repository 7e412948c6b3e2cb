"""Proof-of-learning formats that need no torch: the proof's file layout, its archive and the
training policy, so a gateway can check an upload and keep a policy without the verifier."""
