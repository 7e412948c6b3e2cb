"""The statements of the protocols beyond a single prediction (contests, accuracy certificates,
retrieval), as both sides read and write them."""
