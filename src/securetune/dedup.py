"""Exact and near-duplicate records: MinHash over word shingles, with LSH (``datasketch``).

Clinical text is full of copy-forward: yesterday's note pasted into today's, a line or two
edited. A near-copy on the validation side of a split looks like a training record to the
memorization checks, and near-copies in different privacy units let one note's content
reach the model through several units, each clipped and accounted on its own. So records
whose texts are near-duplicates are found here, and training keeps each group inside one
privacy unit (``train/data.py``), or ``data dedup --remove`` keeps one record of each.

Method (docs/DEDUP.md gives the reasons for each number):

* text -> lower-cased words (``\\w+``, Unicode) -> the set of 3-word shingles (a text of
  three words or fewer is one shingle of all its words; a text with no word has none);
* a 128-permutation MinHash of that set (datasketch's ``affine32`` scheme over its 32-bit
  SHA-1 hash, permutations drawn from the fixed public seed 1, so every command finds the
  same groups);
* candidate pairs from datasketch's ``MinHashLSH`` (25 bands of 5 rows), kept when their
  MinHash-estimated Jaccard similarity is at least 0.5; identical texts are always paired;
* groups are the connected components of the kept pairs (union-find).

Every step is a function of the two texts of a pair, so the groups do not depend on record
order. Group membership is derived from private text: counts of groups are published (in
the ledger, ``plan``, ``split.json``) as *non-private* outputs; positions stay in memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

METHOD = "minhash-lsh-word-shingles-v1"
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class DedupParams:
    """The public parameters of the search (recorded with every count)."""

    shingle_words: int = 3
    num_perm: int = 128
    threshold: float = 0.5
    seed: int = 1
    #: datasketch's permutation scheme since 2.0 (``a*h+b mod 2**32`` over a mixed SHA-1
    #: 32-bit hash); named, so a change of library default cannot change the groups.
    scheme: str = "affine32"
    #: LSH layout, 25 bands of 5 rows: what datasketch's optimiser picks for 0.5 and 128,
    #: pinned so that a datasketch upgrade cannot change the groups of a run being resumed
    #: or checked. A pair at similarity 0.5 is a candidate with probability 0.55; at 0.7, 0.99.
    bands: int = 25
    rows: int = 5

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": METHOD,
            "shingle_words": self.shingle_words,
            "num_perm": self.num_perm,
            "threshold": self.threshold,
            "seed": self.seed,
            "scheme": self.scheme,
            "lsh_bands": self.bands,
            "lsh_rows": self.rows,
        }


DEFAULT_PARAMS = DedupParams()


@dataclass(frozen=True)
class Clusters:
    """Groups of two or more records whose texts are duplicates or near-duplicates.

    ``groups`` holds record positions (sorted within a group, groups by first position);
    ``exact`` counts the groups whose members are all the same text.
    """

    records: int
    groups: list[list[int]]
    exact: int
    params: DedupParams = field(default=DEFAULT_PARAMS)

    def __repr__(self) -> str:  # positions say which records resemble which: keep them out
        return f"Clusters({len(self.groups)} groups over {self.records} records)"

    @property
    def records_in_clusters(self) -> int:
        return sum(len(g) for g in self.groups)

    def summary(self) -> dict[str, Any]:
        """Counts and parameters only: what the ledger, ``plan`` and ``split.json`` publish."""
        return {
            "parameters": self.params.to_dict(),
            "records": self.records,
            "clusters": len(self.groups),
            "exact_clusters": self.exact,
            "near_clusters": len(self.groups) - self.exact,
            "records_in_clusters": self.records_in_clusters,
            "records_removable": self.records_in_clusters - len(self.groups),
            "largest_cluster": max((len(g) for g in self.groups), default=0),
        }

    def representatives(self) -> list[int]:
        """Positions kept by ``--remove``: every record outside a group, the first of each."""
        dropped = {i for g in self.groups for i in g[1:]}
        return [i for i in range(self.records) if i not in dropped]


def shingles(text: str, size: int) -> set[str]:
    """The word shingles of ``text`` (lower-cased ``\\w+`` words joined by one space)."""
    words = _WORD.findall(text.lower())
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


class UnionFind:
    """Disjoint sets over 0..n-1; the smallest member is each set's root."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # the smaller position is the root: groups come out in record order
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        members: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            members.setdefault(self.find(i), []).append(i)
        return [g for g in members.values() if len(g) > 1]


def find_clusters(texts: Iterable[str], params: DedupParams = DEFAULT_PARAMS) -> Clusters:
    """Group ``texts`` by exact and near duplication (see the module docstring).

    Streams: what stays in memory is a SHA-256 digest and a MinHash per distinct text
    (half a KiB of hash values at 128 permutations, plus LSH keys), never the texts.
    """
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    # One set of permutations for every sketch (datasketch would redraw them per sketch).
    template = MinHash(num_perm=params.num_perm, seed=params.seed, scheme=params.scheme)
    digests: list[bytes] = []
    first: dict[bytes, int] = {}
    edges: list[tuple[int, int]] = []
    lsh = MinHashLSH(
        threshold=params.threshold, num_perm=params.num_perm, params=(params.bands, params.rows)
    )
    sketches: dict[int, LeanMinHash] = {}
    for i, text in enumerate(texts):
        if not text:  # nothing to compare (a record without text is nobody's copy)
            digests.append(b"")
            continue
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        digests.append(digest)
        j = first.setdefault(digest, i)
        if j != i:
            edges.append((j, i))  # an exact copy needs no sketch
            continue
        grams = shingles(text, params.shingle_words)
        if not grams:  # no words: only an identical text (paired above) is its duplicate
            continue
        full = MinHash(
            num_perm=params.num_perm,
            seed=params.seed,
            permutations=template.permutations,
            scheme=params.scheme,
        )
        full.update_batch([g.encode("utf-8", "surrogatepass") for g in sorted(grams)])
        sketch = LeanMinHash(full)  # hash values only: half a KiB
        # Candidates share an LSH band with this sketch: a symmetric relation, so querying
        # before inserting finds every pair once, whatever the order.
        edges += [
            (j, i) for j in lsh.query(sketch) if sketch.jaccard(sketches[j]) >= params.threshold
        ]
        lsh.insert(i, sketch)
        sketches[i] = sketch
    uf = UnionFind(len(digests))
    for a, b in edges:
        uf.union(a, b)
    groups = uf.groups()
    exact = sum(1 for g in groups if all(digests[i] == digests[g[0]] for i in g))
    return Clusters(records=len(digests), groups=groups, exact=exact, params=params)


# -- datasets in the workspace ---------------------------------------------------------------

DEDUP_EVENT = "data.dedup"
"""Counts and parameters for one dataset (at ``data add``, ``scrub``, ``data dedup``, ``train``)."""
CREATE_EVENT = "data.dedup.create"
"""A dataset made by ``data dedup --remove``: one record of each group, linked to its source."""


def _strings(value: Any) -> list[str]:
    """The strings compared in a field's value. A chat message (a dict with a ``role``)
    gives its ``content`` only, and a system message nothing: role names and a system prompt
    shared by every conversation would otherwise make distinct conversations near-copies."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and "role" in value:
        return [] if value.get("role") == "system" else _strings(value.get("content"))
    if isinstance(value, dict):
        return [s for key in sorted(value) for s in _strings(value[key])]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def record_text(record: dict[str, Any], fields: Sequence[str]) -> str:
    """The text of a record compared for duplication: its fields' strings, one per line."""
    return "\n".join(s for f in fields for s in _strings(record.get(f)))


def dataset_fields(manifest: Any, text_fields: Sequence[str] | None = None) -> tuple[str, ...]:
    """Fields compared: the option; else what ``scrub`` recorded; else ``text`` when the
    dataset has one; else every field but the subject and id fields (ids always differ)."""
    from securetune.errors import DatasetError

    prov, schema = manifest.provenance, manifest.schema
    if text_fields:
        fields = tuple(text_fields)
    elif prov.get("text_fields"):
        fields = tuple(prov["text_fields"])
    elif "text" in schema or not schema:
        fields = ("text",)
    else:
        skip = {prov.get("subject_field"), prov.get("id_field")}
        fields = tuple(sorted(f for f in schema if f not in skip))
    missing = [f for f in fields if schema and f not in schema]
    if missing:
        raise DatasetError(
            f"dataset {manifest.name} has no field {missing[0]!r} (fields: {', '.join(sorted(schema))})"
        )
    return fields


def event_payload(
    manifest: Any,
    summary: dict[str, Any],
    *,
    trigger: str,
    text_fields: Sequence[str],
    run_id: str | None = None,
) -> dict[str, Any]:
    """The ``data.dedup`` payload: names, hashes, counts and parameters, never text or positions.

    No ``ciphertext_sha256``: the ledger reads an event that has one as creating a dataset.
    """
    payload: dict[str, Any] = {
        "dataset": manifest.name,
        "dataset_id": manifest.dataset_id,
        "content_sha256": manifest.content_sha256,
        "trigger": trigger,
        "text_fields": list(text_fields),
        **summary,
    }
    if run_id is not None:
        payload["run_id"] = run_id
    return payload


@dataclass(frozen=True)
class DedupResult:
    """What ``data dedup`` reports: counts, and the new dataset when ``--remove`` made one."""

    dataset: str
    dataset_id: str
    text_fields: list[str]
    summary: dict[str, Any]
    removed_into: str | None = None
    removed_into_id: str | None = None
    records_kept: int | None = None


def dedup_dataset(
    ws: Any,
    name: str,
    *,
    trigger: str,
    text_fields: Sequence[str] | None = None,
    remove_into: str | None = None,
    params: DedupParams = DEFAULT_PARAMS,
) -> DedupResult:
    """Find the groups of dataset ``name`` and ledger their counts; with ``remove_into``,
    also write a new encrypted dataset of one record per group (the first, in dataset
    order) and every record outside a group. Call under ``Workspace.locked()``."""
    from securetune import datastore

    if remove_into is not None:
        datastore.require_absent(ws, remove_into)
    _directory, manifest, _dek = datastore.open_dataset(ws, name)
    fields = dataset_fields(manifest, text_fields)
    clusters = find_clusters(
        (record_text(r, fields) for r in datastore.read_dataset(ws, name)), params
    )
    summary = clusters.summary()
    ws.record(DEDUP_EVENT, event_payload(manifest, summary, trigger=trigger, text_fields=fields))
    result = DedupResult(
        dataset=name,
        dataset_id=manifest.dataset_id,
        text_fields=list(fields),
        summary=summary,
    )
    if remove_into is None:
        return result
    created = _write_subset(ws, manifest, clusters, remove_into)
    return dataclasses.replace(
        result,
        removed_into=remove_into,
        removed_into_id=created.dataset_id,
        records_kept=created.record_count,
    )


def _write_subset(ws: Any, source: Any, clusters: Clusters, name: str) -> Any:
    from securetune import datastore

    keep = set(clusters.representatives())
    records = (r for i, r in enumerate(datastore.read_dataset(ws, source.name)) if i in keep)
    inherited = {
        k: source.provenance[k]
        for k in ("scrubbed", "policy", "policy_sha256", "text_fields", "id_field", "subject_field")
        if k in source.provenance
    }
    return datastore.create_dataset(
        ws,
        name,
        records,
        provenance={
            **inherited,
            "command": "data dedup --remove",
            "source_dataset_id": source.dataset_id,
            "dedup": clusters.params.to_dict(),
        },
        event=CREATE_EVENT,
        payload=lambda m: {
            "dataset": name,
            "dataset_id": m.dataset_id,
            "records": m.record_count,
            "records_removed": clusters.records - m.record_count,
            "content_sha256": m.content_sha256,
            "ciphertext_sha256": m.ciphertext_sha256,
            "scrubbed": m.scrubbed,
            "source_dataset": source.name,
            "source_dataset_id": source.dataset_id,
            "source_content_sha256": source.content_sha256,
            "parameters": clusters.params.to_dict(),
        },
    )
