"""Memorisation and privacy measurements of a trained run (``securetune check``).

Pure statistics live in modules named for what they compute (:mod:`.stats`,
:mod:`.exposure`, :mod:`.onerun`); :mod:`.scoring` turns a model into numbers;
:mod:`.runner` opens a run the ledger vouches for and runs the registered checks;
:mod:`.gates` applies the policy's thresholds. Nothing imports this package except ``cli``.
"""

#: The checks, in the order they run. Here rather than in :mod:`.runner` so that listing them
#: (``securetune --help`` imports every command's options) costs no workspace or crypto import.
CHECKS = ("exposure", "mia", "epsilon", "extraction", "pii")
