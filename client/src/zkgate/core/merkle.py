"""A Merkle tree over byte strings, with inclusion proofs (the RFC 6962 construction).

Leaves and inner nodes are hashed under different one-byte prefixes, so an inner node can never be
passed off as a leaf (the second-preimage trick against naive trees), and an odd node is carried
up rather than duplicated, so no two leaf lists share a root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

_LEAF = b"\x00"
_NODE = b"\x01"


class MerkleError(ValueError):
    """An inclusion proof that is malformed or does not lead to the root."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF + data).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def root_of_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    # Pairing neighbours level by level and carrying a lone last node up unchanged builds the
    # same tree as RFC 6962's recursive split at the largest power of two.
    while len(level) > 1:
        paired = [_node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


@dataclass(frozen=True)
class InclusionProof:
    index: int
    size: int
    # Sibling hashes from the leaf upwards.
    path: tuple[bytes, ...]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> InclusionProof:
    """Proof that leaf hash `leaves[index]` is in the tree over `leaves`."""
    if not 0 <= index < len(leaves):
        raise MerkleError(f"index {index} outside a tree of {len(leaves)} leaves")
    path: list[bytes] = []
    level = list(leaves)
    position = index
    while len(level) > 1:
        sibling = position ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        paired = [_node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
        position //= 2
    return InclusionProof(index=index, size=len(leaves), path=tuple(path))


def verify_inclusion(leaf: bytes, proof: InclusionProof, root: bytes) -> None:
    """Raises MerkleError unless leaf hash `leaf` sits at `proof.index` under `root`."""
    if not 0 <= proof.index < proof.size:
        raise MerkleError(f"index {proof.index} outside a tree of {proof.size} leaves")
    node = leaf
    position, width = proof.index, proof.size
    steps = iter(proof.path)
    while width > 1:
        sibling = position ^ 1
        if sibling < width:
            try:
                other = next(steps)
            except StopIteration:
                raise MerkleError("inclusion proof is too short for the tree size") from None
            node = _node_hash(other, node) if position % 2 else _node_hash(node, other)
        position //= 2
        width = (width + 1) // 2
    if next(steps, None) is not None:
        raise MerkleError("inclusion proof is longer than the tree size allows")
    if node != root:
        raise MerkleError("inclusion proof does not lead to the committed root")
