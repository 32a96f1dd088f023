"""Training: DP-LoRA fine-tuning under an explicit privacy budget.

Entry points: :func:`securetune.train.loop.train_run` (train or resume a run) and
:func:`securetune.train.plan.prepare` / :func:`securetune.train.plan.estimate` (what a run
would cost). Modules: ``config`` (options), ``data`` (decrypt, split, batch), ``formats``
(text, prompt-completion and chat examples: rendering, loss masks, truncation), ``model``
(tiny preset, offline loading, LoRA), ``privacy`` (Opacus wiring and guards), ``loss``
(per-example loss), ``budget`` (lifetime spend from the ledger), ``checkpoint`` (run files).
Imports of torch and friends stay inside those modules so ``securetune --help`` stays fast.
"""
