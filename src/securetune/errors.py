"""One exception hierarchy for the library.

The CLI catches :class:`SecuretuneError` at a single boundary and prints ``str(err)`` as one
line on stderr. Messages must therefore be complete sentences a user can act on, and must
never contain record text or key material: they name files, datasets, shards, line numbers
and entry sequence numbers instead.
"""

from __future__ import annotations


class SecuretuneError(Exception):
    """Base class: a failure the user can understand and act on."""

    exit_code: int = 1


class WorkspaceError(SecuretuneError):
    """The workspace is missing, malformed or in an unexpected state."""


class LockError(WorkspaceError):
    """Another process holds the workspace lock."""


class KeyProviderError(SecuretuneError):
    """Key material is missing, malformed, or does not unlock the workspace."""


class DecryptionError(SecuretuneError):
    """Ciphertext failed authentication: wrong key, tampering, truncation or reordering.

    Every decryption failure raises this one type so callers (and attackers) cannot
    distinguish *why* a ciphertext was rejected from the exception class alone.
    """


class DatasetError(SecuretuneError):
    """A dataset is missing, already exists, or failed verification."""


class InputError(SecuretuneError):
    """User-supplied input (a file, a record, an option) is malformed."""


class LedgerError(SecuretuneError):
    """The audit ledger or one of its checkpoints failed verification."""


class PolicyError(SecuretuneError):
    """A policy file is unknown, malformed, or a policy gate failed."""


class TrainingError(SecuretuneError):
    """A training run cannot start or failed a guard (bad option, model, data or resume)."""


class BudgetError(TrainingError):
    """A privacy budget (per run, per policy or per dataset lifetime) would be exceeded."""
