"""The five checks. Each takes a verified :class:`RunUnderCheck` and returns an
:class:`Outcome` of numbers (never text). docs/CHECKS.md gives each one's source paper."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import statistics
import zlib
from typing import Any

import numpy as np

from securetune.checks.exposure import exposure
from securetune.checks.onerun import group_privacy, one_run_bound
from securetune.checks.runner import CheckError, Outcome, RunUnderCheck
from securetune.checks.stats import bootstrap_auc_ci, nonmembers_needed, roc_auc, tpr_at_fpr
from securetune.train.data import IGNORE_INDEX

MIN_K = 0.20
"""Min-K% probability (Shi et al. 2024): the mean of the lowest 20% of token log-probs."""
NEAR_EXACT = 0.9
"""Token-level similarity (1 - edit distance / length) at which a continuation is near-exact."""


def _pick(items: list[Any], n: int, seed: int) -> list[Any]:
    if len(items) <= n:
        return list(items)
    rng = np.random.default_rng(seed)
    return [items[i] for i in sorted(rng.choice(len(items), size=n, replace=False))]


# -- exposure --------------------------------------------------------------------------------
def _prefix_len(tokenizer: Any, text: str, prefix: str) -> int:
    """Tokens before the secret: the first token starting at or after the prefix's end."""
    enc = tokenizer(text, return_offsets_mapping=True)
    for i, (a, b) in enumerate(enc["offset_mapping"]):
        if b > a and a >= len(prefix):
            return i
    raise ValueError("the canary's secret is not tokenized apart from its prefix")


def _secret_ids(tokenizer: Any, prefix: str, secrets_: list[str]) -> list[list[int]]:
    """Token ids of prefix + secret, without what follows the secret (end-of-text tokens
    included): a causal model's probability of the secret does not depend on it."""
    ids = tokenizer([prefix + s for s in secrets_])["input_ids"]
    tail = {t for t in (tokenizer.sep_token_id, tokenizer.eos_token_id) if t is not None}
    return [seq[:-1] if seq and seq[-1] in tail else seq for seq in ids]


def exposure_check(run: RunUnderCheck) -> Outcome:
    if run.canaries is None:
        return Outcome(skipped="the run has no canaries (train --canaries M)")
    from securetune.train.canaries import SPACE_SIZE

    opts, tok = run.options, run.tokenizer
    log2_space = math.log2(SPACE_SIZE)
    half = max(1, opts.exposure_canaries // 2)
    inc = [c for c in run.canaries.canaries if c.included]
    exc = [c for c in run.canaries.canaries if not c.included]
    chosen = inc[:half] + exc[: opts.exposure_canaries - min(half, len(inc))]
    chosen = (chosen + inc[half:])[: opts.exposure_canaries]
    rows = []
    for c in chosen:
        rng = np.random.default_rng(
            [opts.seed, c.index]
        )  # references are public: seeded on purpose
        refs = []
        while len(refs) < opts.references:
            s = f"{int(rng.integers(0, SPACE_SIZE)):09d}"
            if s != c.secret:
                refs.append(s)
        p = _prefix_len(tok, c.text(), c.prefix)
        ids = _secret_ids(tok, c.prefix, [c.secret, *refs])
        if any(seq[:p] != ids[0][:p] for seq in ids):
            raise ValueError("candidate canaries do not share the canary's prefix tokens")
        nll = run.scorer.suffix_nll(p, ids) / math.log(2)  # bits: log-perplexity as in the paper
        e = exposure(float(nll[0]), nll[1:], log2_space=log2_space)
        rows.append(
            {
                "included": c.included,
                "exposure": round(e.exposure, 4),
                "exposure_rank": round(e.exposure_rank, 4),
                "exposure_fit": round(e.exposure_fit, 4),
                "references_below": e.below,
                "extrapolated": e.extrapolated,
            }
        )

    def summary(included: bool) -> tuple[float | None, float | None]:
        vals = [r["exposure"] for r in rows if r["included"] == included]
        return (round(statistics.median(vals), 4), round(max(vals), 4)) if vals else (None, None)

    med_in, max_in = summary(True)
    med_out, max_out = summary(False)
    mean_in = [r["exposure"] for r in rows if r["included"]]
    return Outcome(
        numbers={
            "exposure_mean": round(float(np.mean(mean_in)), 4) if mean_in else None,
            "exposure_median_included": med_in,
            "exposure_max_included": max_in,
            "exposure_median_excluded": med_out,
            "exposure_max_excluded": max_out,
            "log2_space": round(log2_space, 4),
        },
        details={
            "canaries": rows,
            "references": opts.references,
            "measured_canaries": len(rows),
            "method": "rank among uniform references; skew-normal fit beyond the sampled rank",
        },
    )


# -- membership inference -----------------------------------------------------------------------
def trained_targets(labels: list[int]) -> np.ndarray:
    """Which of a sequence's next-token targets training fitted: target t (the log-prob
    :meth:`Scorer.token_logprobs` returns at index t-1) when ``labels[t]`` is not
    IGNORE_INDEX, the shift of ``train/loss.py``. A prompt, a user turn or a leading special
    token is read by the model but never a target, so a membership signal cannot live there."""
    return np.asarray(labels[1:]) != IGNORE_INDEX


def _record_features(run: RunUnderCheck, positions: list[int]) -> dict[int, dict[str, float]]:
    """Per record, the four attacks' features over its trained targets only (every target of
    a text-format record: its labels are its ids)."""
    ids = [run.tokens[i] for i in positions]
    adapted = run.scorer.token_logprobs(ids)
    with run.scorer.base():
        base = run.scorer.token_logprobs(ids)
    out = {}
    for pos, all_lp, all_blp in zip(positions, adapted, base, strict=True):
        scored = trained_targets(run.labels[pos])
        lp, blp = all_lp[scored], all_blp[scored]
        if not lp.size:
            raise CheckError(f"record {pos} has no trained token to score")
        k = max(1, math.ceil(MIN_K * lp.size))
        zbits = 8 * len(zlib.compress(run.scored_texts[pos].encode("utf-8")))
        out[pos] = {
            "loss": -float(-lp.mean()),
            "reference": float(-blp.mean()) - float(-lp.mean()),
            "zlib": -float(-lp.sum() / math.log(2)) / zbits,
            "min_k": float(np.sort(lp)[:k].mean()),
        }
    return out


ATTACKS = ("loss", "reference", "zlib", "min_k")


def mia_check(run: RunUnderCheck) -> Outcome:
    opts = run.options
    members = _pick(run.data_units(run.split.train), opts.mia_max_units, opts.seed)
    nonmembers = _pick(run.split.validation, opts.mia_max_units, opts.seed + 1)
    if len(members) < 2 or len(nonmembers) < 2:
        return Outcome(skipped="too few training or held-out units for membership inference")
    positions = sorted({i for u in members + nonmembers for i in u})
    feats = _record_features(run, positions)

    def unit_scores(units: list[list[int]], attack: str) -> np.ndarray:
        return np.array([np.mean([feats[i][attack] for i in u]) for u in units])

    # Reporting the strongest of four attacks is four tries at a high number: the interval the
    # gate reads is widened for that (Bonferroni), so chance alone does not fail a run.
    adjusted_confidence = 1 - (1 - opts.confidence) / len(ATTACKS)
    attacks = {}
    for attack in ATTACKS:
        m, n = unit_scores(members, attack), unit_scores(nonmembers, attack)
        auc = roc_auc(m, n)
        lo, hi = bootstrap_auc_ci(
            m, n, rounds=opts.bootstrap, confidence=opts.confidence, seed=opts.seed
        )
        adj_lo, adj_hi = bootstrap_auc_ci(
            m, n, rounds=opts.bootstrap, confidence=adjusted_confidence, seed=opts.seed
        )
        t1, t01 = tpr_at_fpr(m, n, 0.01), tpr_at_fpr(m, n, 0.001)
        attacks[attack] = {
            "auc": round(auc, 4),
            "auc_ci": [round(lo, 4), round(hi, 4)],
            "auc_ci_adjusted": [round(adj_lo, 4), round(adj_hi, 4)],
            "tpr_at_1pct_fpr": round(t1.tpr, 4),
            "tpr_at_1pct_fpr_certified": t1.certified,
            "tpr_at_0_1pct_fpr": round(t01.tpr, 4) if t01.certified else None,
        }
    best = max(ATTACKS, key=lambda a: attacks[a]["auc"])
    return Outcome(
        numbers={
            "mia_auc": attacks[best]["auc"],
            "mia_auc_ci": attacks[best]["auc_ci"],
            "mia_auc_ci_adjusted": attacks[best]["auc_ci_adjusted"],
            "mia_attack": best,
            "tpr_at_1pct_fpr": attacks[best]["tpr_at_1pct_fpr"],
            "tpr_at_0_1pct_fpr": attacks[best]["tpr_at_0_1pct_fpr"],
        },
        details={
            "attacks": attacks,
            "members": len(members),
            "nonmembers": len(nonmembers),
            "adjusted_confidence": adjusted_confidence,
            "nonmembers_needed": {
                "1%": nonmembers_needed(0.01, confidence=opts.confidence),
                "0.1%": nonmembers_needed(0.001, confidence=opts.confidence),
            },
            "unit": run.split.unit,
        },
    )


# -- one-run epsilon lower bound -----------------------------------------------------------------
def add_remove_epsilon(finish: dict[str, Any], delta: float) -> float | None:
    """The epsilon the one-run audit can be held to: the add/remove one.

    The audit includes or leaves out each canary, which is adding or removing one unit. A
    replace-one run's headline epsilon bounds a different (larger) relation; holding the
    measured bound to it would let an accounting bug between the two go unnoticed. The same
    noise, rate and steps are accounted again under add/remove (PLD, as replace-one runs are).
    """
    eps = finish.get("epsilon_spent")
    if eps is None or finish.get("neighbours") != "replace-one":
        return eps
    from securetune.train.privacy import epsilon_of

    history = [(finish["noise_multiplier"], finish["sample_rate"], finish["steps"])]
    return epsilon_of(history, delta=delta, accountant="pld", neighbours="add-remove")


def epsilon_check(run: RunUnderCheck) -> Outcome:
    if run.canaries is None:
        return Outcome(skipped="the run has no canaries (train --canaries M)")
    from securetune.train.config import default_delta
    from securetune.train.data import tokenize

    cs = run.canaries
    ids = tokenize(run.tokenizer, [c.text() for c in cs.canaries], run.config.max_length)
    adapted = run.scorer.token_logprobs(ids)
    with run.scorer.base():
        base = run.scorer.token_logprobs(ids)
    scores = [float(lp.mean() - b.mean()) for lp, b in zip(adapted, base, strict=True)]
    # A canary repeated in record mode is a group of that many units: compare with group privacy.
    group = cs.repetitions if run.split.unit == "record" else 1
    delta = run.finish.get("delta") or default_delta(run.start.get("train_units") or 1)
    eps = add_remove_epsilon(run.finish, delta)
    compare_eps, compare_delta = (
        group_privacy(eps, delta, group) if eps is not None else (None, delta)
    )
    bound = one_run_bound(
        scores,
        [c.included for c in cs.canaries],
        delta=min(compare_delta, 1.0),
        confidence=run.options.confidence,
    )
    return Outcome(
        numbers={
            "epsilon_lower_bound": round(bound.epsilon_lower_bound, 4),
            "epsilon_certifiable_max": round(bound.epsilon_certifiable_max, 4),
            "epsilon_compared": compare_eps,
        },
        details={
            "canaries": bound.canaries,
            "confidence": bound.confidence,
            "delta": bound.delta,
            "group_size": group,
            "compared_with": "the add/remove epsilon of the run's noise, rate and steps",
            "score": "base-model loss minus adapted loss (reference-calibrated)",
            "guesses": [
                {
                    "k_plus": g.k_plus,
                    "k_minus": g.k_minus,
                    "correct": g.correct,
                    "epsilon_lb": round(g.epsilon_lb, 4),
                    "epsilon_certifiable": round(g.epsilon_certifiable, 4),
                }
                for g in bound.guesses
            ],
            "bonferroni": len(bound.guesses),
        },
    )


# -- extraction ----------------------------------------------------------------------------------
def _similarity(a: list[int], b: list[int]) -> float:
    """1 - Levenshtein distance / length of ``b`` (the true continuation)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return 1 - prev[-1] / max(1, len(b))


MIN_TRUTH = 8
"""Fewest true continuation tokens an extraction attempt is scored on."""


def _extraction_pair(run: RunUnderCheck, i: int) -> tuple[list[int], list[int]] | None:
    """(what generation starts from, the tokens it should reproduce), or None if too short.

    Text: the first ``extraction_prefix`` tokens after the leading special token, then the
    next ``extraction_suffix``. Prompt-completion and chat: the prompt plus the first k
    completion tokens (k = the prefix option or half the completion, the smaller), then the
    completion tokens after them: the prompt alone is never trained, so a continuation inside
    it says nothing about memorisation of what was trained.
    """
    k, n = run.options.extraction_prefix, run.options.extraction_suffix
    ids = run.tokens[i]
    if not run.has_prompt(i):
        if len(ids) < 1 + k + MIN_TRUTH:
            return None
        return ids[: 1 + k], ids[1 + k : 1 + k + n]
    start, end = _completion_span(run, i)
    half = min(k, (end - start) // 2)
    if end - start - half < MIN_TRUTH:
        return None
    return ids[: start + half], ids[start + half : min(end, start + half + n)]


def _completion_span(run: RunUnderCheck, i: int) -> tuple[int, int]:
    """[start, end) of the record's last trained run of tokens (its completion, or its last
    assistant turn), less a closing EOS/SEP, which greedy decoding is held from emitting."""
    trained = [lab != IGNORE_INDEX for lab in run.labels[i]]
    end = max(t for t, on in enumerate(trained) if on) + 1
    start = end
    while start > 0 and trained[start - 1]:
        start -= 1
    tok = run.tokenizer
    closing = {t for t in (tok.sep_token_id, tok.eos_token_id) if t is not None}
    if end > start and run.tokens[i][end - 1] in closing:
        end -= 1
    return start, end


def _extract(run: RunUnderCheck, positions: list[int]) -> dict[str, Any]:
    pairs = [_extraction_pair(run, i) for i in positions]
    usable = [p for p in pairs if p is not None]
    short = len(pairs) - len(usable)
    if not usable:
        return {"records": 0, "too_short": short, "exact_rate": None, "near_exact_rate": None}
    prompts = [p for p, _ in usable]
    truths = [t for _, t in usable]
    outs = run.scorer.generate(prompts, max(len(t) for t in truths))
    exact = sum(o[: len(t)] == t for o, t in zip(outs, truths, strict=True))
    near = sum(_similarity(o[: len(t)], t) >= NEAR_EXACT for o, t in zip(outs, truths, strict=True))
    return {
        "records": len(usable),
        "too_short": short,
        "exact_rate": round(exact / len(usable), 4),
        "near_exact_rate": round(near / len(usable), 4),
    }


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def extraction_check(run: RunUnderCheck) -> Outcome:
    opts = run.options
    train = _pick(
        sorted(i for u in run.data_units(run.split.train) for i in u),
        opts.extraction_units,
        opts.seed,
    )
    held = _pick(run.split.validation_records, opts.extraction_units, opts.seed + 1)
    on_train, on_held = _extract(run, train), _extract(run, held)
    numbers: dict[str, Any] = {
        "extraction_rate": on_train["exact_rate"],
        "extraction_rate_heldout": on_held["exact_rate"],
    }
    details: dict[str, Any] = {
        "prefix_tokens": opts.extraction_prefix,
        "suffix_tokens": opts.extraction_suffix,
        "train": on_train,
        "heldout": on_held,
        "near_exact_similarity": NEAR_EXACT,
    }
    if run.canaries is not None:
        tok = run.tokenizer
        cs = run.canaries.canaries
        prompts = [tok(c.text())["input_ids"][: _prefix_len(tok, c.text(), c.prefix)] for c in cs]
        outs = run.scorer.generate(prompts, 8)
        hit = [
            c.secret in _digits(tok.decode(o, skip_special_tokens=True))
            for c, o in zip(cs, outs, strict=True)
        ]
        numbers["canaries_extracted"] = sum(h for h, c in zip(hit, cs, strict=True) if c.included)
        details["canaries"] = {
            "included": sum(c.included for c in cs),
            "included_reproduced": numbers["canaries_extracted"],
            "excluded": sum(not c.included for c in cs),
            "excluded_reproduced": sum(h for h, c in zip(hit, cs, strict=True) if not c.included),
        }
    else:
        details["canaries"] = "the run has no canaries"
    return Outcome(numbers=numbers, details=details)


# -- PII in generations --------------------------------------------------------------------------
def _norm(value: str) -> bytes:
    return re.sub(r"[^0-9a-z]", "", value.lower()).encode()


def identifying(value: str) -> bool:
    """Whether a detected value could single someone out if it matched: two or more words
    (a full name, a street address) or four or more digits (a phone, an ID). A lone common
    word such as a first name turns up by chance in any text, trained on the data or not."""
    return len(re.findall(r"[A-Za-z]+", value)) >= 2 or len(re.findall(r"\d", value)) >= 4


def pii_check(run: RunUnderCheck) -> Outcome:
    """Sample generations, run scrub's analyzer over them, match values by keyed hash.

    The key is drawn for this check and never stored, so the hashes it makes cannot be
    matched against anything later; values are compared only as HMACs, never in clear.
    The base model (adapter off) is sampled the same way as the control: what it matches,
    it matches without having been trained on the data.
    """
    from securetune.scrub.detect import DEFAULT_ENTITIES, Detector, DetectorConfig

    opts = run.options
    policy = run.policy
    config = DetectorConfig(
        entities=tuple(policy.detection.entities) if policy else DEFAULT_ENTITIES,
        score_threshold=policy.detection.score_threshold if policy else 0.5,
        ner_backend=policy.detection.ner_backend if policy else None,
    )
    detector = Detector(config)
    key = secrets.token_bytes(32)

    def mac(value: str) -> bytes:
        return hmac.new(key, _norm(value), hashlib.sha256).digest()

    unit_of = {i: n for n, u in enumerate(run.data_units(run.split.train)) for i in u}
    reference = _pick(sorted(unit_of), opts.pii_reference_records, opts.seed)
    holders: dict[bytes, set[int]] = {}  # value -> the training units it occurs in
    for i in reference:
        text = run.texts[i]
        for f in detector.detect(text):
            if identifying(text[f.start : f.end]):
                holders.setdefault(mac(text[f.start : f.end]), set()).add(unit_of[i])
    # A value in one unit's records only (a patient's phone, an MRN) says something about that
    # unit if generated; one that many units share (the hospital's name) is population-level
    # knowledge, which DP does not hide and the gate should not count.
    unique = {v for v, units in holders.items() if len(units) == 1}
    shared = set(holders) - unique
    canary_secrets = (
        {mac(c.secret) for c in run.canaries.canaries} if run.canaries is not None else set()
    )
    start_token = run.tokens[0][:1]

    def scan(outs: list[list[int]]) -> tuple[dict[str, int], int, int, int]:
        types: dict[str, int] = {}
        matched = matched_shared = found = 0
        for o in outs:
            text = run.tokenizer.decode(o, skip_special_tokens=True)
            for f in detector.detect(text):
                types[f.entity_type] = types.get(f.entity_type, 0) + 1
                value = text[f.start : f.end]
                if identifying(value):
                    matched += mac(value) in unique
                    matched_shared += mac(value) in shared
            spaced = _digits_spaced(text)
            found += sum(mac(d) in canary_secrets for d in re.findall(r"\d{9}", spaced))
        return types, matched, matched_shared, found

    prompts = [start_token] * opts.generations
    new = opts.generation_tokens
    types, regurgitated, regurgitated_shared, secrets_found = scan(
        run.scorer.generate(prompts, new, sample=True, seed=opts.seed)
    )
    with run.scorer.base():
        _, base_matched, _, _ = scan(run.scorer.generate(prompts, new, sample=True, seed=opts.seed))
    return Outcome(
        numbers={
            "pii_regurgitated": regurgitated,
            "pii_regurgitated_shared": regurgitated_shared,
            "pii_regurgitated_base": base_matched,
            "pii_types": dict(sorted(types.items())),
            "canary_secrets_generated": secrets_found if run.canaries is not None else None,
        },
        details={
            "generations": opts.generations,
            "tokens": new,
            "sampling": "temperature 1",
            "reference_records": len(reference),
            "training_values": len(holders),
            "training_values_unique_to_one_unit": len(unique),
            "identifying": "two or more words, or four or more digits",
            "detector": detector.versions().get("recognizer_set"),
            "match": "HMAC-SHA256, per-check key",
        },
    )


def _digits_spaced(text: str) -> str:
    """Digit runs with the spaces a WordPiece decode may leave inside them removed."""
    return re.sub(r"(?<=\d) (?=\d)", "", text)
