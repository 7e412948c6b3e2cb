"""The client's side of proof-of-learning: signed intents and timestamps, and reports."""
