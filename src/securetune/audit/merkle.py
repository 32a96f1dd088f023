"""RFC 6962 Merkle tree hashes, inclusion proofs and consistency proofs.

The ledger's signed checkpoint commits to the Merkle Tree Hash (MTH) of RFC 6962 §2.1
(unchanged in RFC 9162 §2.1) over the entries' hashes. Using the Certificate Transparency
construction, rather than a home-grown one, means any tlog tool can check our proofs,
and domain separation is built in: a leaf is hashed as ``SHA-256(0x00 || data)`` and an
interior node as ``SHA-256(0x01 || left || right)``, so a leaf can never be passed off as
a node (the second-preimage attack on naive Merkle trees).

Proof verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency), as
sigstore-python's ``_internal/merkle.py`` does. Proof *generation* follows RFC 6962
§2.1.1 and §2.1.2 directly; it is recursive and meant for small trees, reports and tests.
Every verification failure raises :class:`securetune.errors.LedgerError`.

All functions take *leaf data* as 32-byte entry hashes and hash them as leaves themselves,
except the ``verify_*`` functions, which take an already computed leaf hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from securetune.errors import LedgerError

#: RFC 6962 §2.1: prefix of a leaf hash input.
LEAF_PREFIX = b"\x00"
#: RFC 6962 §2.1: prefix of an interior node hash input.
NODE_PREFIX = b"\x01"
#: RFC 6962 §2.1: the hash of an empty tree is the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()


def hash_leaf(data: bytes) -> bytes:
    """Return ``SHA-256(0x00 || data)``, the leaf hash of RFC 6962."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Return ``SHA-256(0x01 || left || right)``, an interior node hash of RFC 6962."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash of a list of already hashed leaves.

    Level by level, pairing neighbours and carrying an odd last node up unchanged. This
    yields the same root as RFC 6962's recursive split at the largest power of two below
    ``n`` (the tree is left-full), in ``n - 1`` hashes and without recursion, which is what
    verifying a 100,000-entry ledger needs.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = [hash_children(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


class CompactRange:
    """The right edge of a Merkle tree: enough to append leaves and get the root, O(log n).

    For a tree of ``size`` leaves, ``nodes`` holds the roots of the perfect subtrees that
    the binary digits of ``size`` describe, largest (leftmost) first: one node per set bit.
    Appending merges equal-height neighbours, as a binary counter carries; the root folds
    the nodes right to left. This is the "compact range" of transparency-log writers
    (Trillian's ``compact.Range``), and gives the same root as RFC 6962's recursive MTH.
    The ledger stores it beside the checkpoint so that signing a new checkpoint costs
    ``O(log n)`` hashes instead of a re-read of every entry.

    >>> r = CompactRange()
    >>> for leaf in (b"a", b"b", b"c"):
    ...     r.append(hash_leaf(leaf))
    >>> r.root() == root([b"a", b"b", b"c"]), len(r.nodes)
    (True, 2)
    """

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(nodes) != size.bit_count():
            raise LedgerError("compact range: the node count does not match the tree size")
        if any(len(node) != 32 for node in nodes):
            raise LedgerError("compact range: every node must be a 32-byte hash")
        self.size = size
        self.nodes = list(nodes)

    def append(self, leaf_hash: bytes) -> None:
        """Add one already hashed leaf at the right edge."""
        node, carry = leaf_hash, self.size
        while carry & 1:
            node = hash_children(self.nodes.pop(), node)
            carry >>= 1
        self.nodes.append(node)
        self.size += 1

    def root(self) -> bytes:
        """The Merkle Tree Hash of the ``size`` leaves appended so far."""
        if not self.nodes:
            return EMPTY_ROOT
        acc = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            acc = hash_children(node, acc)
        return acc


def root(leaves: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash over leaf data (each item is hashed as a leaf).

    >>> root([]).hex()[:16]
    'e3b0c44298fc1c14'
    >>> root([b"a"]) == hash_leaf(b"a")
    True
    """
    return root_from_leaf_hashes([hash_leaf(leaf) for leaf in leaves])


def _split(n: int) -> int:
    """Return the largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree(leaf_hashes: Sequence[bytes]) -> bytes:
    return root_from_leaf_hashes(leaf_hashes)


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Return the audit path PATH(index, leaves) of RFC 6962 §2.1.1."""
    if not 0 <= index < len(leaves):
        raise LedgerError(f"inclusion proof: index {index} is outside a tree of {len(leaves)}")
    return _path(index, [hash_leaf(leaf) for leaf in leaves])


def _path(m: int, nodes: Sequence[bytes]) -> list[bytes]:
    if len(nodes) == 1:
        return []
    k = _split(len(nodes))
    if m < k:
        return [*_path(m, nodes[:k]), _subtree(nodes[k:])]
    return [*_path(m - k, nodes[k:]), _subtree(nodes[:k])]


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """Return PROOF(old_size, leaves) of RFC 6962 §2.1.2 (empty when sizes are equal)."""
    if not 0 < old_size <= len(leaves):
        raise LedgerError(f"consistency proof: old size {old_size} is not within 1..{len(leaves)}")
    return _subproof(old_size, [hash_leaf(leaf) for leaf in leaves], True)


def _subproof(m: int, nodes: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(nodes)
    if m == n:
        return [] if complete else [_subtree(nodes)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, nodes[:k], complete), _subtree(nodes[k:])]
    return [*_subproof(m - k, nodes[k:], False), _subtree(nodes[:k])]


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """Check an inclusion proof (RFC 9162 §2.1.3.2); raise LedgerError if it fails."""
    if not 0 <= index < size:
        raise LedgerError(f"inclusion proof: index {index} is outside a tree of {size}")
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise LedgerError("inclusion proof: proof is too long")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise LedgerError("inclusion proof: proof is too short")
    if r != expected_root:
        raise LedgerError("inclusion proof: computed root does not match")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check a consistency proof (RFC 9162 §2.1.4.2); raise LedgerError if it fails.

    Proves that the tree of ``new_size`` leaves extends the tree of ``old_size`` leaves:
    the older tree's leaves are an unchanged prefix of the newer one.
    """
    if not 0 <= old_size <= new_size:
        raise LedgerError(f"consistency proof: sizes {old_size} -> {new_size} go backwards")
    if old_size == new_size:
        if proof:
            raise LedgerError("consistency proof: must be empty for equal sizes")
        if old_root != new_root:
            raise LedgerError("consistency proof: equal sizes but different roots")
        return
    if old_size == 0:
        if proof:
            raise LedgerError("consistency proof: must be empty from an empty tree")
        return
    if not proof:
        raise LedgerError("consistency proof: proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # exact power of two: old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise LedgerError("consistency proof: proof is too long")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise LedgerError("consistency proof: proof is too short")
    if fr != old_root:
        raise LedgerError("consistency proof: old root does not match")
    if sr != new_root:
        raise LedgerError("consistency proof: new root does not match")
