"""The client's side of the retrieval protocol."""
