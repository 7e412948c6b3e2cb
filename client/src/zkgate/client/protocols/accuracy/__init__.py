"""The client's side of the accuracy protocol."""
