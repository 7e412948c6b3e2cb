"""Content-addressed artifacts (models, keys, proofs): the store, its backends (a directory,
S3) and the local cache a worker proves from."""
