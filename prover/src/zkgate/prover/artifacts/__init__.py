"""Content-addressed artifacts (models, keys, proofs), one way down: the store, where a digest
from outside is checked; the local cache a worker proves from; the backends (a directory, S3);
digests and hashing at the bottom. store_settings opens the store that settings name."""
