"""Thin gRPC adapters: each decodes a request, calls the domain object behind it, and encodes
the answer or the status its error maps to."""
