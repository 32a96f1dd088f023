"""Where the stated guarantee used to break or rest on something unstated (issue 7), and the
config's one-line errors: each test names the behaviour a user of the guarantee relies on."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from securetune.crypto.stream import decrypt_bytes
from securetune.errors import BudgetError, DecryptionError, PolicyError, TrainingError
from securetune.policy import builtin_dirs
from securetune.train import budget, privacy
from securetune.train.data import UnitDataset
from securetune.train.formats import Tokenized
from securetune.train.loop import train_run
from securetune.train.plan import prepare
from tests.train.conftest import FAST_ARGS, fast, train_events

_events = train_events


def _write_policy(ws, name: str, **training) -> None:
    doc = yaml.safe_load((builtin_dirs()[0] / "hipaa-safe-harbor.yaml").read_text())
    doc["name"] = name
    doc["training"].update(training)
    (ws.root / "policies").mkdir(exist_ok=True)
    (ws.root / "policies" / f"{name}.yaml").write_text(yaml.safe_dump(doc))


# -- 1. bf16 autocast: what the guarantee rests on stays float32 ----------------------------------


def _lora_private(clipping: str, max_grad_norm: float) -> privacy.Private:
    from securetune.train.loss import ghost_criterion
    from securetune.train.model import add_lora, load_base_model, quiet

    with quiet():
        model = add_lora(
            load_base_model("tiny").model, r=4, alpha=8, targets=("q_proj", "v_proj"), seed=0
        )
    ids = torch.randint(1, 1000, (8, 12), generator=torch.Generator().manual_seed(0))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(ids), batch_size=4)
    opt = torch.optim.SGD(privacy.trainable(model), lr=0.1)
    return privacy.make_private(
        model=model,
        optimizer=opt,
        loader=loader,
        epsilon=8.0,
        delta=1e-5,
        epochs=1,
        max_grad_norm=max_grad_norm,
        accountant="rdp",
        clipping=clipping,
        criterion=ghost_criterion(),
    )


def test_clipped_per_sample_gradients_stay_within_c_under_bf16_autocast() -> None:
    from securetune.train.loss import batch_loss

    c = 1e-3  # far below every gradient norm: every sample is clipped
    private = _lora_private("hooks", c)
    opt = private.optimizer
    ids = torch.randint(1, 1000, (12, 12), generator=torch.Generator().manual_seed(1))
    norms = []
    for row in ids:  # one sample per batch: the clipped sum *is* its clipped gradient
        x = row[None]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = private.module(input_ids=x, attention_mask=torch.ones_like(x)).logits
        assert logits.dtype == torch.bfloat16  # the frozen model does run in bf16
        batch_loss(logits, x).backward()
        assert {p.grad_sample.dtype for p in opt.params} == {torch.float32}
        opt.clip_and_accumulate()
        assert {p.summed_grad.dtype for p in opt.params} == {torch.float32}
        norms.append(torch.stack([p.summed_grad.norm() for p in opt.params]).norm().item())
        opt.add_noise()  # noise is drawn in the sum's dtype
        assert {p.grad.dtype for p in opt.params} == {torch.float32}
        opt.zero_grad(set_to_none=True)
        for p in opt.params:
            p.summed_grad = None
    assert max(norms) <= c
    assert min(norms) > 0.999 * c  # all were clipped, to C


def test_ghost_norms_are_float32_under_bf16_autocast() -> None:
    from securetune.train.loss import ghost_loss

    private = _lora_private("ghost", 1e-3)
    x = torch.randint(1, 1000, (3, 12), generator=torch.Generator().manual_seed(2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = private.module(input_ids=x, attention_mask=torch.ones_like(x)).logits
    ghost_loss(private.criterion, logits, x).backward()
    assert {p._norm_sample.dtype for p in private.optimizer.params} == {torch.float32}
    assert privacy.per_sample_norms(private.module, "ghost").dtype == torch.float32


# -- 2. the noise cannot be rebuilt after the run -------------------------------------------------


def test_a_finished_run_destroys_its_generator_states_and_ledgers_it(ws, make_dataset) -> None:
    from securetune.train.secrets import AUDIT, RESUME, RunSecrets, key_name, overwrite_and_unlink  # noqa: F401

    make_dataset()
    result = train_run(ws, fast())
    run_dir = Path(result.run_dir)
    assert not [p for p in run_dir.rglob("*") if "rng" in p.name]
    assert key_name(result.run_id, RESUME) not in ws.keyring().wrapped
    assert key_name(result.run_id, AUDIT) in ws.keyring().wrapped  # audit secrets outlive the run
    (finish,) = [e for e in _events(ws) if e.event == "train.finish"]
    (shred,) = finish.payload["secrets_destroyed"]
    assert (
        shred["kind"] == "resume"
        and shred["key_destroyed"] is True
        and shred["files_overwritten"] == 1
    )


def test_checkpoint_secrets_use_their_own_key_and_audit_secrets_outlive_the_run(
    ws, make_dataset
) -> None:
    from securetune.train.secrets import AUDIT, RESUME, RunSecrets, key_name, overwrite_and_unlink  # noqa: F401

    make_dataset(policy="hipaa-safe-harbor")  # encrypt_adapter: true
    paused = train_run(ws, fast(epochs=2), stop_after_epochs=1)
    run_dir = Path(paused.run_dir)
    keyring = ws.keyring()
    adapter_key = keyring.get(ws.kek(), f"run:{paused.run_id}")
    resume_key = keyring.get(ws.kek(), key_name(paused.run_id, RESUME))
    assert adapter_key != resume_key
    blob = (run_dir / "checkpoint" / "rng.safetensors.resume.stc").read_bytes()
    context = f"securetune/run/{paused.run_id}/secret/resume/checkpoint/rng.safetensors".encode()
    assert decrypt_bytes(blob, resume_key, context=context)
    with pytest.raises(DecryptionError):
        decrypt_bytes(blob, adapter_key, context=context)
    # What `check` will need (e.g. canaries) is an audit secret: kept, still encrypted.
    RunSecrets.open(ws, paused.run_id, run_dir).put("canaries.json", b'{"n": 3}', kind=AUDIT)
    train_run(ws, resume=paused.run_id)
    after = RunSecrets.open(ws, paused.run_id, run_dir)
    assert after.get("canaries.json", kind=AUDIT) == b'{"n": 3}'
    assert b'{"n": 3}' not in (run_dir / "secrets" / "canaries.json.audit.stc").read_bytes()
    with pytest.raises(TrainingError, match="its resume secrets were destroyed"):
        after.seal("x", b"", kind=RESUME)


def test_a_run_failing_its_final_guard_fails_for_good_and_destroys_its_secrets(
    ws, make_dataset, monkeypatch
) -> None:
    from securetune.train.secrets import AUDIT, RESUME, RunSecrets, key_name, overwrite_and_unlink  # noqa: F401

    make_dataset()

    def stuck(before, after) -> None:
        raise TrainingError("guard: no LoRA weight changed during training")

    monkeypatch.setattr(privacy, "check_changed", stuck)
    with pytest.raises(TrainingError, match="no LoRA weight changed"):
        train_run(ws, fast())
    start, _checkpoint, fail = _events(ws)
    assert fail.payload["final"] is True and fail.payload["released"] is True
    assert 0 < fail.payload["epsilon_spent"] <= 8.0 and fail.payload["secrets_destroyed"]
    run_id = start.payload["run_id"]
    assert key_name(run_id, RESUME) not in ws.keyring().wrapped
    with pytest.raises(TrainingError, match="failed for good"):
        train_run(ws, resume=run_id)
    spend = budget.dataset_spend(ws, identity=budget.DataIdentity(start.payload["dataset_id"], ""))
    assert spend.epsilon == fail.payload["epsilon_spent"]  # what it spent, not its target


def test_abandoning_a_paused_run_shreds_its_secrets_and_charges_its_last_checkpoint(
    run, ws, make_dataset
) -> None:
    from securetune.train.secrets import RESUME, key_name

    make_dataset()
    paused = train_run(ws, fast(epochs=2), stop_after_epochs=1)
    out = run("train", "--abandon", paused.run_id, "--json")
    assert out.exit_code == 0, out.stderr
    ended = json.loads(out.stdout)
    assert ended["final"] is True and ended["steps"] == paused.steps
    assert ended["epsilon_spent"] == pytest.approx(paused.epsilon_spent)
    assert ended["secrets_destroyed"][0]["files_overwritten"] == 1
    assert key_name(paused.run_id, RESUME) not in ws.keyring().wrapped
    assert not list(Path(paused.run_dir).rglob("rng*"))
    start = _events(ws)[0]
    spend = budget.dataset_spend(ws, identity=budget.DataIdentity(start.payload["dataset_id"], ""))
    assert spend.epsilon == pytest.approx(paused.epsilon_spent) and spend.unfinished == 0
    again = run("train", "--resume", paused.run_id)
    assert again.exit_code == 1 and "failed for good" in again.stderr


def test_overwrite_and_unlink_replaces_the_bytes_before_removing_the_name(tmp_path) -> None:
    from securetune.train.secrets import AUDIT, RESUME, RunSecrets, key_name, overwrite_and_unlink  # noqa: F401

    secret = tmp_path / "rng.safetensors.resume.stc"
    secret.write_bytes(b"S" * 4096)
    survivor = tmp_path / "hardlink"
    survivor.hardlink_to(secret)  # another name for the same blocks
    overwrite_and_unlink(secret)
    assert not secret.exists()
    data = survivor.read_bytes()
    assert len(data) == 4096 and data.count(b"S") < 100


# -- 3. a subject's record choice is a function of that subject and that step alone ---------------


def test_one_subjects_presence_does_not_change_another_subjects_record_choice() -> None:
    key = bytes(range(32))
    units = [[3 * s, 3 * s + 1, 3 * s + 2] for s in range(10)]
    names = [f"patient-{s}" for s in range(10)]
    step = [0]
    tokens = [Tokenized([i, i], [i, i], truncated=False) for i in range(30)]
    full = UnitDataset(units, tokens, names=names, key=key, step=lambda: step[0])
    # The same data without patient-0: positions shift, every other subject is unchanged.
    without = UnitDataset(
        [[i - 3 for i in u] for u in units[1:]],
        tokens[3:],
        names=names[1:],
        key=key,
        step=lambda: step[0],
    )
    picks_full, picks_without = [], []
    for s in range(40):
        step[0] = s
        if s % 2 == 0:
            full[0]  # patient-0 is sampled at even steps (and only in `full`)
        picks_full.append([full[i][0].tolist() for i in range(1, 10)])
        picks_without.append([without[i][0].tolist() for i in range(9)])
    assert picks_full == picks_without
    assert len({tuple(map(tuple, p)) for p in picks_full}) > 1  # the choice does vary by step
    other_key = UnitDataset(units, tokens, names=names, key=bytes(32), step=lambda: 7)
    full_7 = UnitDataset(units, tokens, names=names, key=key, step=lambda: 7)
    assert [other_key.pick(i, 7) for i in range(10)] != [full_7.pick(i, 7) for i in range(10)]


# -- 4. the neighbouring relation is stated and replace-one is offered ----------------------------


def test_replace_one_is_accounted_by_googles_pld_and_costs_more_than_add_remove() -> None:
    history = [(0.499, 1 / 92, 184)]
    add = privacy.epsilon_of(history, delta=1e-5, accountant="pld", neighbours="add-remove")
    replace = privacy.epsilon_of(history, delta=1e-5, accountant="pld", neighbours="replace-one")
    assert add == pytest.approx(7.98910, abs=1e-4)  # agrees with Opacus's prv (7.9998) to 0.011
    assert replace == pytest.approx(8.42463, abs=1e-4)
    sigma = privacy.noise_multiplier(
        epsilon=1.0, delta=1e-5, rate=0.01, steps=1000, accountant="pld"
    )
    assert (
        0.99 - privacy.NOISE_TOLERANCE
        <= privacy.epsilon_of([(sigma, 0.01, 1000)], delta=1e-5, accountant="pld")
        <= 1.0
    )
    cost = privacy.epsilon_of(
        [(sigma, 0.01, 1000)], delta=1e-5, accountant="pld", neighbours="replace-one"
    )
    assert 1.6 <= cost <= 1.8
    with pytest.raises(TrainingError, match="accounts add/remove neighbours only; use pld"):
        privacy.epsilon_of(history, delta=1e-5, accountant="prv", neighbours="replace-one")


def test_plan_states_the_relation_and_a_policy_can_require_replace_one(
    run, ws, make_dataset
) -> None:
    make_dataset()
    args = [
        "plan",
        "--data",
        "notes",
        "--epsilon",
        "4",
        "--batch-size",
        "8",
        "--max-length",
        "32",
        "--json",
    ]
    add = json.loads(run(*args).stdout)
    out = run(*args, "--neighbours", "replace-one")
    assert out.exit_code == 0, out.stderr
    replace = json.loads(out.stdout)
    assert (add["neighbours"], add["accountant"]) == ("add-remove", "prv")
    assert (replace["neighbours"], replace["accountant"]) == ("replace-one", "pld")
    assert replace["noise_multiplier"] > add["noise_multiplier"]
    # N is private under add/remove (it differs between neighbours), public under replace-one.
    assert add["non_private_outputs"] == [
        "train_units",
        "validation_units",
        "sample_rate",
        "noise_multiplier",
        "steps",
        "steps_per_epoch",
        "delta",
        "mean_tokens",
        "max_tokens",
        "truncated_examples",
    ]
    assert replace["non_private_outputs"] == ["mean_tokens", "max_tokens", "truncated_examples"]
    _write_policy(ws, "strict", neighbours="replace-one", privacy_unit="any")
    with pytest.raises(PolicyError, match="policy strict requires --neighbours replace-one"):
        prepare(ws, fast(policy="strict", epsilon=4.0))
    assert prepare(
        ws, fast(policy="strict", epsilon=4.0, neighbours="replace-one", accountant="pld")
    )


# -- 5. non-private outputs: encrypted with the run, listed, and a policy can forbid one --------


def test_an_encrypted_run_writes_nothing_run_derived_in_plaintext(run, ws, make_dataset) -> None:
    make_dataset(policy="hipaa-safe-harbor")
    result = run(
        "train", "--data", "notes", "--epsilon", "8", "--json", "--accountant", "rdp", *FAST_ARGS
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    run_dir = Path(out["run_dir"])
    plaintext = sorted(
        p.relative_to(run_dir).as_posix()
        for p in run_dir.rglob("*")
        if p.is_file() and not p.name.endswith(".stc") and p.parts[-2] != "tokenizer"
    )
    assert plaintext == [
        ".lock",
        "adapter/adapter_config.json",
        "config.json",
    ]  # none from the data
    for rel in (
        "metrics.jsonl",
        "result.json",
        "split.json",
        "checkpoint/state.json",
        "checkpoint/optimizer.json",
        "adapter/adapter_model.safetensors",
    ):
        assert (run_dir / f"{rel}.stc").is_file(), rel
    # Validation-based early stopping is off under HIPAA, so the epoch count is not listed.
    assert out["early_stopping_patience"] == 0 and out["neighbours"] == "add-remove"
    assert out["non_private_outputs"] == [
        "train_units",
        "validation_units",
        "sample_rate",
        "noise_multiplier",
        "steps",
        "planned_steps",
        "delta",
        "train_loss",
        "validation_loss",
        "clipped_fraction",
        "metrics.jsonl",
        "checkpoint/state.json",
        "split.json",
        "largest_unit_records",
        "truncated_examples",
    ]
    start = _events(ws)[0]
    assert start.payload["non_private_outputs"] == out["non_private_outputs"]
    assert start.payload["neighbours"] == "add-remove"


def test_a_policy_can_forbid_validation_based_early_stopping(ws, make_dataset) -> None:
    make_dataset()
    assert prepare(ws, fast()).patience == 2  # no policy: the default
    assert "stopped" in prepare(ws, fast()).non_private_outputs
    make_dataset("hipaa", policy="hipaa-safe-harbor")  # validation_early_stopping: false
    assert prepare(ws, fast(data="hipaa")).patience == 0
    with pytest.raises(PolicyError, match="forbids validation-based early stopping"):
        prepare(ws, fast(data="hipaa", early_stopping_patience=2))


# -- 6. the lifetime budget knows the unit ---------------------------------------------------------


def test_hipaa_and_gdpr_require_the_subject_unit(ws, make_dataset) -> None:
    for policy in ("hipaa-safe-harbor", "gdpr-pseudonymisation"):
        make_dataset(policy, policy=policy)
        with pytest.raises(
            PolicyError,
            match=f"policy {policy} requires the subject privacy unit: --privacy-unit record",
        ):
            prepare(ws, fast(data=policy, privacy_unit="record"))
        assert prepare(ws, fast(data=policy)).unit == "subject"
        make_dataset(f"{policy}-flat", policy=policy, subject=False)
        with pytest.raises(PolicyError, match="names no subject field; pass --subject-field"):
            prepare(ws, fast(data=f"{policy}-flat"))


def test_group_privacy_converts_between_units() -> None:
    assert budget.convert(
        1.0, 1e-6, source="record", target="subject", largest_unit=3
    ) == pytest.approx((3.0, 3 * math.e**2 * 1e-6))
    assert budget.convert(
        1.0, 1e-6, source="subject", target="record", largest_unit=3
    ) == pytest.approx((2.0, (1 + math.e) * 1e-6))
    assert budget.convert(1.0, 1e-6, source="subject", target="subject", largest_unit=3) == (
        1.0,
        1e-6,
    )


def test_record_level_spends_count_against_subjects_and_summed_delta_is_capped(
    ws, make_dataset
) -> None:
    make_dataset(subject=True)  # 24 notes, 8 patients with 3 each; no policy
    _write_policy(
        ws,
        "capped",
        lifetime_epsilon=7,
        lifetime_delta=1.5e-5,
        privacy_unit="any",
        encrypt_adapter=False,
        validation_early_stopping=True,
    )
    first = train_run(ws, fast(policy="capped", epsilon=1.0, privacy_unit="record"))
    assert first.privacy_unit == "record"
    # A second record-level run fits epsilon (1 + 1 <= 7, and 3 + 3 <= 7 counted per patient)
    # but not the summed delta.
    with pytest.raises(
        BudgetError,
        match=r"summed delta of its runs would reach 2e-05, not below the policy capped cap of 1\.5e-05",
    ):
        train_run(ws, fast(policy="capped", epsilon=1.0, privacy_unit="record"))
    # At the subject unit the record run costs 3x its epsilon (group privacy, 3 notes each).
    spend = budget.dataset_spend(
        ws,
        identity=budget.DataIdentity.of(prepare(ws, fast(batch_size=4)).corpus.manifest),
        unit="subject",
        largest_unit=3,
    )
    assert spend.converted == 1 and spend.epsilon == pytest.approx(3 * first.epsilon_spent)
    with pytest.raises(
        BudgetError,
        match=r"lifetime budget of 7 .*\(including 1 run\(s\) at the other privacy unit",
    ):
        train_run(ws, fast(policy="capped", epsilon=4.5, batch_size=4))
    assert [e.event for e in _events(ws)].count("train.start") == 1


def test_a_record_run_must_also_fit_the_budget_counted_at_the_subject_level(
    ws, make_dataset
) -> None:
    make_dataset(subject=True)  # 24 notes, 8 patients with 3 each; no policy
    _write_policy(
        ws,
        "capped",
        lifetime_epsilon=10,
        lifetime_delta=None,
        privacy_unit="any",
        encrypt_adapter=False,
        validation_early_stopping=True,
    )
    subject_run = train_run(ws, fast(policy="capped", epsilon=2.0, batch_size=4))
    assert subject_run.privacy_unit == "subject"
    # Counted at the record unit this fits (2 x 2 + 3 = 7 <= 10); counted at the subject
    # unit, where a patient's 3 notes make the record run cost 3 x 3, it does not (2 + 9).
    with pytest.raises(BudgetError, match=r"exceeded at the subject level"):
        train_run(ws, fast(policy="capped", epsilon=3.0, privacy_unit="record"))
    assert [e.event for e in _events(ws)].count("train.start") == 1


def test_runs_accounted_for_different_neighbouring_relations_are_not_added_up(
    ws, make_dataset
) -> None:
    make_dataset()
    train_run(ws, fast(epsilon=2.0))  # add/remove
    with pytest.raises(
        BudgetError, match=r"accounted for add-remove neighbours and this one for replace-one"
    ):
        train_run(ws, fast(epsilon=2.0, neighbours="replace-one", accountant="pld"))
    assert [e.event for e in _events(ws)].count("train.start") == 1


# -- 7. smaller items --------------------------------------------------------------------------------


def test_poisson_inclusion_never_exceeds_the_accounted_rate() -> None:
    model = nn.Linear(4, 2)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.randn(93, 4)), batch_size=1
    )
    private = privacy.make_private(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        loader=loader,
        epsilon=2.0,
        delta=1e-5,
        epochs=1,
        max_grad_norm=1.0,
        accountant="rdp",
        clipping="hooks",
        criterion=nn.MSELoss(),
    )
    sampler = private.loader.batch_sampler
    assert sampler.inclusion_probability == Fraction(2**62 // 93, 2**62)
    assert (
        sampler.inclusion_probability <= Fraction(1, 93) <= Fraction(1, 92)
    )  # 1/92: the accounted rate


def test_noise_uses_the_four_sample_floating_point_defence() -> None:
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.randn(16, 4)), batch_size=4
    )
    private = privacy.make_private(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        loader=loader,
        epsilon=8.0,
        delta=1e-5,
        epochs=1,
        max_grad_norm=1.0,
        accountant="rdp",
        clipping="hooks",
        criterion=nn.MSELoss(),
        noise_generator=torch.Generator().manual_seed(5),
    )
    opt, std = private.optimizer, private.noise_multiplier * 1.0
    before = [p.detach().clone() for p in opt.params]
    privacy.empty_step(
        private, "hooks"
    )  # SGD (lr 0.1) moves each weight by noise / expected batch (4)
    replay = torch.Generator().manual_seed(5)
    for p, old in zip(opt.params, before, strict=True):
        torch.normal(0, std, size=(1, 1), generator=replay)  # one draw discarded, then four summed
        noise = sum(torch.normal(0, std, size=p.shape, generator=replay) for _ in range(4)) / 2
        assert torch.allclose(p.detach(), old - 0.1 * noise / 4, atol=1e-6)


def test_a_run_interrupted_before_its_first_checkpoint_is_charged_what_it_spent(
    ws, make_dataset
) -> None:
    make_dataset()

    def interrupt(step: int, total: int) -> None:
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(ws, fast(), on_step=interrupt)
    start, fail = _events(ws)
    assert fail.payload["released"] is False and fail.payload["steps"] == 2
    assert 0 < fail.payload["epsilon_spent"] < 8.0
    spend = budget.dataset_spend(ws, identity=budget.DataIdentity(start.payload["dataset_id"], ""))
    assert spend.epsilon == fail.payload["epsilon_spent"] and spend.runs == 1
    assert not any(ws.runs_dir.iterdir())  # and it left nothing behind
    assert not [k for k in ws.keyring().wrapped if start.payload["run_id"] in k]


def test_an_explicit_delta_above_a_tenth_of_1_over_n_needs_insisting(ws, make_dataset) -> None:
    make_dataset()  # 19 training records: 1/(10 N) = 1/190, 1/N = 1/19
    with pytest.raises(
        TrainingError, match=r"--delta 0\.01 is above 1/\(10 N\) = 1/190 .* --allow-large-delta"
    ):
        prepare(ws, fast(delta=0.01))
    assert prepare(ws, fast(delta=0.01, allow_large_delta=True)).delta == 0.01
    with pytest.raises(TrainingError, match="is not below 1/N"):
        prepare(ws, fast(delta=0.06, allow_large_delta=True))


def test_batch_size_help_states_the_real_sampling_rate(run) -> None:
    out = run("train", "--help")
    text = " ".join(out.stdout.split())
    assert "rate 1/ceil(N/batch)" in text and "rate = batch/N" not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--epochs", "1.5"],
            "error: invalid training option epochs: Input should be a valid integer, unable to parse string as an integer (got '1.5')",
        ),
        (
            ["--batch-size", "x"],
            "error: invalid training option batch_size: Input should be a valid integer, unable to parse string as an integer (got 'x')",
        ),
        (
            ["--accountant", "gdp"],
            "error: invalid training option accountant: must be one of prv, rdp, pld (got 'gdp')",
        ),
        (
            ["--neighbours", "swap"],
            "error: invalid training option neighbours: must be one of add-remove, replace-one (got 'swap')",
        ),
    ],
)
def test_a_bad_option_value_is_one_line_naming_the_field(run, make_dataset, args, message) -> None:
    make_dataset()
    result = run("train", "--data", "notes", "--epsilon", "8", *args)
    assert result.exit_code == 1
    assert result.stderr.strip() == message
