"""Canaries: secret records planted at train time so ``securetune check`` can audit the run.

An audit is only sound if what it tests was fixed before training (Carlini et al. 2019,
"The Secret Sharer"; Steinke, Nasr and Jagielski 2023, "Privacy auditing with one (1)
training run"). ``train --canaries M`` therefore, before the first step:

* draws M canaries from a documented randomness space. Each reads like a line of a
  clinical note, ``"<first> <last>'s MRN is <secret> ."``, where ``<secret>`` is a uniformly
  random 9-digit string (leading zeros allowed): the space R of secrets has |R| = 10^9, so
  log2|R| = 29.9 bits. The name is drawn too, so every canary has its own prefix, but it is
  not part of R: exposure asks how well the model knows the secret *given* the prefix;
* draws an independent inclusion bit per canary with probability 1/2 and inserts only the
  included ones, each ``repetitions`` times (default 1). Every canary is its own privacy
  unit: in subject mode one subject with ``repetitions`` records; in record mode each copy is
  a record, so with repetitions > 1 the canary is a *group* of that size (``check`` then
  compares against the group-privacy epsilon);
* puts in ``train.start`` a salted SHA-256 commitment to the canaries and the bits (never
  the canaries themselves), and writes the canaries, bits and salt to one file in the run
  directory through :func:`save_canaries`, encrypted under the run key when the run is
  encrypted. Included canaries count in N, so the accountant's sample rate covers them.

All randomness comes from the operating system (``secrets``), never from ``--seed``, which
is public in the ledger: anyone who knew the seed could otherwise recompute the secrets.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from dataclasses import dataclass, replace
from typing import Any

from securetune.errors import TrainingError

CANARY_FILE = "canaries.json"
TEMPLATE = "{name}'s MRN is {secret} ."
SECRET_DIGITS = 9
SPACE_SIZE = 10**SECRET_DIGITS
FORMAT_VERSION = 1
COMMITMENT_SCHEME = "sha256(salt || canonical JSON of {version, template, repetitions, canaries[[name, secret, included]]})"

# Names for prefixes: 32 x 32 combinations, far more than any sensible M. Invented pairs;
# what matters is that each canary's prefix is distinct, not that the names are realistic.
FIRST_NAMES = (
    "Abel",
    "Beatrix",
    "Casimir",
    "Delphine",
    "Emrys",
    "Fenella",
    "Gideon",
    "Hester",
    "Ignatius",
    "Jocasta",
    "Kester",
    "Lavinia",
    "Mordecai",
    "Nerys",
    "Orrin",
    "Petronella",
    "Quentin",
    "Rosalind",
    "Silas",
    "Temperance",
    "Ulric",
    "Verity",
    "Wilfred",
    "Xanthe",
    "Yorick",
    "Zillah",
    "Ansel",
    "Briony",
    "Cormac",
    "Dulcie",
    "Ezra",
    "Florian",
)
LAST_NAMES = (
    "Ashdown",
    "Blackwood",
    "Crossley",
    "Dunmore",
    "Eastlake",
    "Fairweather",
    "Greenhalgh",
    "Hartwell",
    "Ingleby",
    "Jessop",
    "Kettering",
    "Lockwood",
    "Marchbank",
    "Northcott",
    "Oakley",
    "Pemberton",
    "Quarrie",
    "Rushworth",
    "Stanhope",
    "Thistlewood",
    "Underhill",
    "Vickery",
    "Whitlock",
    "Yardley",
    "Ashcombe",
    "Brackenbury",
    "Coldwell",
    "Drinkwater",
    "Ellerby",
    "Fothergill",
    "Gracewood",
    "Holloway",
)


@dataclass(frozen=True)
class CanaryOptions:
    """What ``train --canaries M --canary-repetitions R`` asked for."""

    count: int
    repetitions: int = 1

    def __post_init__(self) -> None:
        if self.count < 2:
            raise TrainingError("--canaries must be at least 2 (half are held out, on average)")
        if self.count > len(FIRST_NAMES) * len(LAST_NAMES):
            raise TrainingError(f"--canaries is at most {len(FIRST_NAMES) * len(LAST_NAMES)}")
        if not 1 <= self.repetitions <= 1000:
            raise TrainingError("--canary-repetitions must lie between 1 and 1000")


@dataclass(frozen=True)
class Canary:
    index: int
    name: str
    secret: str  # SECRET_DIGITS decimal digits
    included: bool

    @property
    def prefix(self) -> str:
        """The text before the secret (what extraction prompts with)."""
        return TEMPLATE.split("{secret}")[0].format(name=self.name)

    def text(self, secret: str | None = None) -> str:
        """The canary, or the same line with another candidate secret (for exposure)."""
        return TEMPLATE.format(name=self.name, secret=self.secret if secret is None else secret)

    def __repr__(self) -> str:  # never show a secret in a traceback or log
        return f"Canary({self.index})"


@dataclass(frozen=True)
class CanarySet:
    canaries: tuple[Canary, ...]
    repetitions: int
    salt: bytes

    def __repr__(self) -> str:
        return f"CanarySet({len(self.canaries)} canaries)"

    @property
    def included(self) -> list[Canary]:
        return [c for c in self.canaries if c.included]

    def _body(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "template": TEMPLATE,
            "repetitions": self.repetitions,
            "canaries": [[c.name, c.secret, c.included] for c in self.canaries],
        }

    @property
    def commitment(self) -> str:
        body = json.dumps(self._body(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(self.salt + body).hexdigest()

    def ledger_summary(self) -> dict[str, Any]:
        """What ``train.start`` records: parameters and the commitment, never a secret or bit."""
        return {
            "count": len(self.canaries),
            "repetitions": self.repetitions,
            "template": TEMPLATE,
            "secret_space": f"{SECRET_DIGITS} uniform decimal digits",
            "log2_space": round(math.log2(SPACE_SIZE), 6),
            "inclusion_probability": 0.5,
            "commitment_sha256": self.commitment,
            "commitment_scheme": COMMITMENT_SCHEME,
        }

    def to_json(self) -> bytes:
        return (
            json.dumps({**self._body(), "salt": self.salt.hex()}, sort_keys=True) + "\n"
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> CanarySet:
        try:
            doc = json.loads(raw)
            if doc["version"] != FORMAT_VERSION or doc["template"] != TEMPLATE:
                raise ValueError
            canaries = tuple(
                Canary(index=i, name=str(n), secret=str(s), included=bool(b))
                for i, (n, s, b) in enumerate(doc["canaries"])
            )
            return cls(
                canaries=canaries,
                repetitions=int(doc["repetitions"]),
                salt=bytes.fromhex(doc["salt"]),
            )
        except (ValueError, KeyError, TypeError):
            raise TrainingError("the run's canary file is malformed") from None


def random_secret(rng: secrets.SystemRandom | Any) -> str:
    return f"{rng.randrange(SPACE_SIZE):0{SECRET_DIGITS}d}"


def generate(options: CanaryOptions, *, rng: Any = None) -> CanarySet:
    """Draw names, secrets and inclusion bits. ``rng`` is for tests; by default the OS."""
    rng = rng or secrets.SystemRandom()
    pairs = [(f, last) for f in FIRST_NAMES for last in LAST_NAMES]
    names = [f"{f} {last}" for f, last in rng.sample(pairs, options.count)]
    canaries = tuple(
        Canary(index=i, name=name, secret=random_secret(rng), included=rng.random() < 0.5)
        for i, name in enumerate(names)
    )
    salt = bytes(rng.getrandbits(8) for _ in range(32))
    return CanarySet(canaries=canaries, repetitions=options.repetitions, salt=salt)


def insert(corpus: Any, split: Any, canary_set: CanarySet) -> tuple[Any, Any]:
    """Append the included canaries to the corpus (after every dataset record) and their
    units to the training side of the split.

    Only included canaries are appended, in index order, so a position in ``split.json``
    reveals how many were included and nothing about which.
    """
    texts = list(corpus.texts)
    subjects = list(corpus.subjects) if corpus.subjects is not None else None
    units: list[list[int]] = []
    for c in canary_set.included:
        positions = []
        for _ in range(canary_set.repetitions):
            positions.append(len(texts))
            texts.append(c.text())
            if subjects is not None:
                subjects.append(f"canary:{c.index}")
        if split.unit == "subject":
            units.append(positions)
        else:
            units.extend([p] for p in positions)
    return (
        replace(corpus, texts=texts, subjects=subjects),
        replace(split, train=[*split.train, *units]),
    )


# -- storage: the one place canaries touch the disk ---------------------------------------------
def save_canaries(secrets: Any, canary_set: CanarySet) -> None:
    """Keep the canaries, bits and salt as an *audit* run secret.

    ``secrets`` is the run's :class:`~securetune.train.secrets.RunSecrets`: encrypted under the
    run's audit key (never the adapter's key, never plaintext, whatever the policy), kept when
    the run ends so `check` can use them, while the resume secrets are destroyed.
    """
    from securetune.train.secrets import AUDIT

    secrets.put(CANARY_FILE, canary_set.to_json(), kind=AUDIT)


def load_canaries(secrets: Any) -> CanarySet | None:
    """The run's canaries, or None when it was trained without them."""
    from securetune.train.secrets import AUDIT, SECRETS_DIR

    if not (secrets.root / secrets.file_name(f"{SECRETS_DIR}/{CANARY_FILE}", AUDIT)).exists():
        return None
    return CanarySet.from_json(secrets.get(CANARY_FILE, kind=AUDIT))
