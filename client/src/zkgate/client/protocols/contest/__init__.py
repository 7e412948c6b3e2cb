"""The client's side of the contest protocol."""
