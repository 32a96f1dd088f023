"""RFC 6962 Merkle trees: pinned roots, and proofs that verify and fail when altered."""

from __future__ import annotations

import hashlib

import pytest

from securetune.audit import merkle
from securetune.errors import LedgerError

# The leaf inputs and roots of Certificate Transparency's reference test data (the C++
# merkle_tree_test and Trillian's testonly vectors): an independent check of our RFC 6962.
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def naive_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 written out literally, independent of the code under test."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:])).digest()


def entry_hashes(n: int) -> list[bytes]:
    """Leaves as the ledger uses them: 32-byte entry hashes."""
    return [hashlib.sha256(b"entry %d" % i).digest() for i in range(n)]


def test_prefixes_are_the_rfc_6962_values() -> None:
    assert merkle.LEAF_PREFIX == b"\x00"
    assert merkle.NODE_PREFIX == b"\x01"


@pytest.mark.parametrize("size", range(1, len(CT_LEAVES) + 1))
def test_root_matches_certificate_transparency_vectors(size: int) -> None:
    assert merkle.root(CT_LEAVES[:size]).hex() == CT_ROOTS[size - 1]
    assert naive_mth(CT_LEAVES[:size]).hex() == CT_ROOTS[size - 1]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert merkle.root([]).hex() == EMPTY_ROOT == naive_mth([]).hex()


# Pinned roots over ledger-style leaves (sha256(b"entry i")), computed with naive_mth.
PINNED_LEDGER_ROOTS = {
    1: "4e80dad45a3d3433d915cdaa8cce19000d754481cd4029ee4bc3fe1b52761087",
    2: "0cdc5e54ca58a1acf1b1345d4a06ff917c7bbf147b190a073583e3a8a4a2d00e",
    3: "3c83a07c520af225bce7767462da9a11f35d9430a94d631681cac6392963a4a8",
    5: "efd8b659a7c9275ac167872c8dc4747f33e972208f2010690bff6f6ce0faeabc",
    8: "903c143004d09f0fb9a1ec895fa8979cdeefdb501a937f92fb4bbe746954972b",
}


@pytest.mark.parametrize("size", range(0, 65))
def test_root_equals_naive_recursive_definition(size: int) -> None:
    leaves = entry_hashes(size)
    assert merkle.root(leaves) == naive_mth(leaves)
    hashed = [merkle.hash_leaf(leaf) for leaf in leaves]
    assert merkle.root_from_leaf_hashes(hashed) == naive_mth(leaves)


def test_pinned_roots_for_small_ledger_trees() -> None:
    got = {n: merkle.root(entry_hashes(n)).hex() for n in (1, 2, 3, 5, 8)}
    assert got == {n: naive_mth(entry_hashes(n)).hex() for n in (1, 2, 3, 5, 8)}
    assert got == PINNED_LEDGER_ROOTS


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    """A node can never be passed off as a leaf: the prefixes differ."""
    a, b = entry_hashes(2)
    node = merkle.hash_children(merkle.hash_leaf(a), merkle.hash_leaf(b))
    assert merkle.hash_leaf(merkle.hash_leaf(a) + merkle.hash_leaf(b)) != node


SIZES = range(1, 41)


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proofs_verify_for_every_leaf(size: int) -> None:
    leaves = entry_hashes(size)
    root = merkle.root(leaves)
    for index in range(size):
        proof = merkle.inclusion_proof(leaves, index)
        merkle.verify_inclusion(merkle.hash_leaf(leaves[index]), index, size, proof, root)


@pytest.mark.parametrize("size", SIZES)
def test_altered_inclusion_proofs_fail(size: int) -> None:
    leaves = entry_hashes(size)
    root = merkle.root(leaves)
    for index in range(size):
        leaf = merkle.hash_leaf(leaves[index])
        proof = merkle.inclusion_proof(leaves, index)
        attempts = [
            (merkle.hash_leaf(b"forged"), index, size, proof, root),  # another leaf
            (leaf, index, size, proof, bytes(32)),  # another root
            (leaf, index, size, [*proof, bytes(32)], root),  # too long
            (leaf, (index + 1) % size, size, proof, root) if size > 1 else None,  # moved
            (leaf, index, size * 4, proof, root),  # a tree two levels taller
        ]
        if proof:
            attempts.append((leaf, index, size, proof[:-1], root))  # too short
            flipped = bytes([proof[0][0] ^ 1]) + proof[0][1:]
            attempts.append((leaf, index, size, [flipped, *proof[1:]], root))
        for attempt in filter(None, attempts):
            with pytest.raises(LedgerError, match="inclusion proof"):
                merkle.verify_inclusion(*attempt)


@pytest.mark.parametrize("new_size", SIZES)
def test_consistency_proofs_verify_for_every_older_size(new_size: int) -> None:
    leaves = entry_hashes(new_size)
    new_root = merkle.root(leaves)
    for old_size in range(1, new_size + 1):
        proof = merkle.consistency_proof(leaves, old_size)
        old_root = merkle.root(leaves[:old_size])
        merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)


@pytest.mark.parametrize("new_size", SIZES)
def test_altered_consistency_proofs_fail(new_size: int) -> None:
    leaves = entry_hashes(new_size)
    new_root = merkle.root(leaves)
    forked = merkle.root([b"fork", *leaves[1:]])
    for old_size in range(1, new_size + 1):
        proof = merkle.consistency_proof(leaves, old_size)
        old_root = merkle.root(leaves[:old_size])
        attempts = [
            (old_size, new_size, merkle.root([b"x", *leaves[1:old_size]]), new_root, proof),
            (old_size, new_size, old_root, forked, proof),
            (old_size, new_size, old_root, new_root, [*proof, bytes(32)]),
        ]
        if proof:
            flipped = bytes([proof[-1][0] ^ 1]) + proof[-1][1:]
            attempts.append((old_size, new_size, old_root, new_root, [*proof[:-1], flipped]))
            attempts.append((old_size, new_size, old_root, new_root, proof[:-1]))
        for attempt in attempts:
            with pytest.raises(LedgerError, match="consistency proof"):
                merkle.verify_consistency(*attempt)


def test_consistency_refuses_a_shrinking_tree() -> None:
    with pytest.raises(LedgerError, match="go backwards"):
        merkle.verify_consistency(5, 3, bytes(32), bytes(32), [])
