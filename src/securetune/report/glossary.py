"""Plain-language definitions of every term the report uses, for readers who are not ML engineers."""

from __future__ import annotations

TERMS: list[dict[str, str]] = [
    {
        "term": "Differential privacy (DP)",
        "definition": "A mathematical promise about a training procedure: its output is almost equally "
        "likely whether or not any one person's data was used. 'Almost' is measured by "
        "epsilon and delta.",
    },
    {
        "term": "Epsilon (ε)",
        "definition": "The privacy-loss bound. Smaller is stronger: any attacker's odds of telling "
        "whether one person was in the data change by at most a factor e^ε.",
    },
    {
        "term": "Delta (δ)",
        "definition": "The probability that the epsilon bound does not hold. It must be far below "
        "1/N, where N is the number of people (or records) protected.",
    },
    {
        "term": "Privacy unit",
        "definition": "What the guarantee protects as one: a patient (all of their records together) "
        "or a single record (a note).",
    },
    {
        "term": "Neighbouring relation",
        "definition": "Which two datasets the guarantee says are hard to tell apart: add/remove (one "
        "unit added or removed) or replace-one (one unit swapped for another).",
    },
    {
        "term": "DP-SGD",
        "definition": "Differentially private stochastic gradient descent: each unit's influence on a "
        "training step is clipped to a maximum size and Gaussian noise is added.",
    },
    {
        "term": "Clipping norm (C)",
        "definition": "The largest influence one unit may have on one training step.",
    },
    {
        "term": "Noise multiplier (σ)",
        "definition": "Standard deviation of the added noise, in units of the clipping norm.",
    },
    {
        "term": "Poisson sampling",
        "definition": "Each unit is included in each step independently with probability q; the "
        "privacy accounting relies on it.",
    },
    {
        "term": "Accountant",
        "definition": "The algorithm that adds up the privacy loss of every training step (PRV or "
        "RDP); it yields the reported epsilon.",
    },
    {
        "term": "Lifetime budget",
        "definition": "Epsilon summed over every training run on the same data; the policy caps it.",
    },
    {
        "term": "LoRA adapter",
        "definition": "The small set of trained weights added to a frozen base model; it is the output "
        "the guarantee covers.",
    },
    {
        "term": "Canary",
        "definition": "A random secret planted in the training data (or deliberately left out) before "
        "training, to measure afterwards whether the model memorized it.",
    },
    {
        "term": "Membership inference (MIA) AUC",
        "definition": "How well an attacker separates training units from held-out units by the model's "
        "loss; 0.5 is chance, 1.0 is perfect.",
    },
    {
        "term": "TPR at 1% FPR",
        "definition": "The fraction of training units an attacker identifies while wrongly accusing only "
        "1% of non-members.",
    },
    {
        "term": "Exposure",
        "definition": "How many bits more likely the model finds a canary's secret than random "
        "alternatives (Carlini et al. 2019); log2 of the candidate space is the maximum.",
    },
    {
        "term": "Empirical epsilon lower bound (ε_LB)",
        "definition": "A measured lower bound on the true privacy loss, from guessing which canaries "
        "were included (Steinke, Nasr and Jagielski 2023). It must never exceed the "
        "accountant's epsilon.",
    },
    {
        "term": "Extraction rate",
        "definition": "The fraction of training text the model reproduces verbatim when prompted "
        "with its beginning.",
    },
    {
        "term": "Safe Harbor",
        "definition": "HIPAA de-identification method (45 CFR 164.514(b)(2)): remove 18 kinds of "
        "identifiers and have no actual knowledge that the rest identifies anyone.",
    },
    {
        "term": "Expert Determination",
        "definition": "The other HIPAA method (164.514(b)(1)): a qualified expert certifies the risk of "
        "re-identification is very small. securetune does not perform it.",
    },
    {
        "term": "Signed checkpoint / Merkle root",
        "definition": "A digital signature over a hash of the whole ledger; any later change to any "
        "entry changes the root and breaks the signature.",
    },
    {
        "term": "Witness",
        "definition": "A copy of the last signed checkpoint kept outside the workspace, so a ledger "
        "rolled back to an older state is detected.",
    },
]
