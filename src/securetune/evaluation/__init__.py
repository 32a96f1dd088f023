"""Utility of a trained run: is the private model any good, and what did it forget?

``securetune eval RUN`` (:func:`securetune.evaluation.runner.evaluate_run`) reopens a
finished run the ledger vouches for (:mod:`securetune.train.reopen`), re-derives its held-out
units, and compares the base model, the run's adapter and, when there is one, a non-private
baseline run's adapter on them: loss and perplexity on the tokens training scored, generated
completions (ROUGE-L, exact match) for prompt/completion data, and perplexity on a short
general-English text shipped with the package (a forgetting probe). docs/EVAL.md explains
each number and which of them the run's privacy guarantee does not cover.
"""
