"""The client's side of each protocol beyond a single prediction: sessions that talk to a gateway
and verifiers that trust nothing it says."""
