"""Secret noise, policy merging, Opacus's real step count, and what a failed run leaves behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from torch import nn

from securetune.errors import BudgetError, PolicyError, TrainingError
from securetune.policy import TrainingPolicy, builtin_dirs
from securetune.train import privacy
from securetune.train.loop import train_run
from securetune.train.plan import prepare, stricter
from tests.train.conftest import fast, train_events

_events = train_events


def _write_policy(ws, name: str, *, base: str = "hipaa-safe-harbor", **training) -> None:
    doc = yaml.safe_load((builtin_dirs()[0] / f"{base}.yaml").read_text())
    doc["name"] = name
    doc["training"].update(training)
    (ws.root / "policies").mkdir(exist_ok=True)
    (ws.root / "policies" / f"{name}.yaml").write_text(yaml.safe_dump(doc))


# -- 1. noise and sampling are not derived from the public seed ----------------------------------


def test_same_seed_draws_different_noise_and_no_noise_seed_is_recorded(ws, make_dataset) -> None:
    make_dataset()
    a, b = train_run(ws, fast(seed=7)), train_run(ws, fast(seed=7))
    wa = load_file(Path(a.adapter_dir) / "adapter_model.safetensors")
    wb = load_file(Path(b.adapter_dir) / "adapter_model.safetensors")
    assert any(not torch.equal(wa[k], wb[k]) for k in wa)  # same --seed, different noise
    for run in (a, b):
        config = json.loads((Path(run.run_dir) / "config.json").read_text())
        assert [k for k in config if "seed" in k] == ["seed"] and config["seed"] == 7
    for event in _events(ws):
        keys = json.dumps(event.payload)
        assert "noise_seed" not in keys and "sample_seed" not in keys and "rng" not in keys
        assert [k for k in event.payload if "seed" in k] in ([], ["seed"])


def test_secret_generators_fill_the_whole_cpu_state() -> None:
    g1, g2 = privacy.secret_generator(), privacy.secret_generator()
    assert not torch.equal(torch.rand(8, generator=g1), torch.rand(8, generator=g2))
    # Reseeding with the generator's own (64-bit) seed does not reproduce it: the mt19937
    # state did not come from the seed, whose low 32 bits are all torch would use.
    g = privacy.secret_generator()
    replay = torch.Generator().manual_seed(g.initial_seed())
    assert not torch.equal(torch.rand(8, generator=g), torch.rand(8, generator=replay))


def test_generator_states_are_encrypted_in_an_encrypted_run(ws, make_dataset) -> None:
    make_dataset(policy="hipaa-safe-harbor")  # encrypt_adapter: true
    paused = train_run(ws, fast(epochs=2), stop_after_epochs=1)
    checkpoint = Path(paused.run_dir) / "checkpoint"
    assert (checkpoint / "rng.safetensors.resume.stc").exists()
    assert not (checkpoint / "rng.safetensors").exists()


# -- 2./3. --policy can only tighten the dataset's rules; the dataset's policy is pinned -------


def test_stricter_takes_the_strictest_rule_of_each() -> None:
    lax = TrainingPolicy(
        max_epsilon=100, allow_no_dp=True, require_scrubbed=False, encrypt_adapter=False
    )
    strict = TrainingPolicy(
        max_epsilon=10,
        lifetime_epsilon=20,
        max_delta=1e-5,
        allow_no_dp=False,
        require_scrubbed=True,
        encrypt_adapter=True,
    )
    for merged in (stricter(lax, strict), stricter(strict, lax)):
        assert merged == strict
    assert stricter(TrainingPolicy(max_delta=1e-6), strict).max_delta == 1e-6


def test_a_lax_policy_option_does_not_lift_the_datasets_rules(ws, make_dataset) -> None:
    make_dataset(policy="hipaa-safe-harbor")
    _write_policy(
        ws,
        "lax",
        max_epsilon=100,
        lifetime_epsilon=None,
        max_delta=None,
        allow_no_dp=True,
        require_scrubbed=False,
        encrypt_adapter=False,
    )
    with pytest.raises(
        BudgetError, match=r"exceeds the policies lax \+ hipaa-safe-harbor cap of 10"
    ):
        prepare(ws, fast(policy="lax", epsilon=12.0))
    with pytest.raises(PolicyError, match="forbids --no-dp"):
        prepare(ws, fast(policy="lax", epsilon=None, no_dp=True))
    rules = prepare(ws, fast(policy="lax")).rules
    assert rules.encrypt_adapter and rules.require_scrubbed and rules.lifetime_epsilon == 20
    assert rules.max_delta == 1e-5


def test_a_policy_changed_since_scrubbing_is_refused(ws, make_dataset) -> None:
    make_dataset(policy="hipaa-safe-harbor")
    # A workspace policy may not take a built-in name with other rules (docs/WORKSPACE.md,
    # "Policy names"): the rules a dataset was scrubbed under cannot be swapped that way.
    _write_policy(ws, "hipaa-safe-harbor", max_epsilon=1000)
    with pytest.raises(
        PolicyError,
        match="takes the name of the built-in policy hipaa-safe-harbor with other rules",
    ):
        prepare(ws, fast())


def test_a_workspace_policy_changed_since_scrubbing_is_refused(ws, make_dataset) -> None:
    _write_policy(ws, "ward")
    make_dataset(policy=str(ws.root / "policies" / "ward.yaml"))
    _write_policy(ws, "ward", max_epsilon=1000)
    with pytest.raises(
        PolicyError, match="policy ward has changed since dataset notes was scrubbed"
    ):
        prepare(ws, fast())


def test_unscrubbed_training_is_flagged_even_without_the_flag(ws, make_dataset) -> None:
    make_dataset(scrubbed=False)
    _write_policy(ws, "lax", require_scrubbed=False, encrypt_adapter=False, privacy_unit="any")
    result = train_run(ws, fast(policy="lax"))
    assert result.allow_unscrubbed is True
    assert _events(ws)[0].payload["allow_unscrubbed"] is True


# -- 4. the plan uses the steps and rate Opacus really runs and accounts ----------------------


def _private(n: int, batch: int, **kw):
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    data = torch.utils.data.TensorDataset(torch.randn(n, 4), torch.randint(0, 2, (n,)))
    loader = torch.utils.data.DataLoader(data, batch_size=batch)
    return model, privacy.make_private(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        loader=loader,
        epsilon=2.0,
        delta=1e-5,
        epochs=1,
        max_grad_norm=1.0,
        accountant="rdp",
        clipping="hooks",
        criterion=nn.CrossEntropyLoss(),
        **kw,
    )


def test_the_plan_matches_opacus_when_it_runs_one_step_fewer() -> None:
    n, batch = 93, 1  # ceil(N/B) = 93, but Opacus runs int(1 / (1/93)) = 92 steps
    spe, rate = privacy.steps_per_epoch(n, batch), privacy.sample_rate(n, batch)
    assert (spe, rate) == (92, 1 / 92)
    noise = privacy.noise_multiplier(
        epsilon=2.0, delta=1e-5, rate=rate, steps=spe, accountant="rdp"
    )
    _, private = _private(n, batch, noise=noise, rate=rate, steps_per_epoch=spe)
    assert len(private.loader) == spe
    for x, y in private.loader:
        if len(x):
            nn.functional.cross_entropy(private.module(x), y).backward()
            private.optimizer.step()
        else:
            privacy.empty_step(private, "hooks")
        private.optimizer.zero_grad()
    assert privacy.history_of(private) == [(noise, rate, spe)]
    assert privacy.epsilon_of(privacy.history_of(private), delta=1e-5, accountant="rdp") <= 2.0


def test_the_guard_refuses_a_plan_opacus_would_not_follow() -> None:
    with pytest.raises(
        TrainingError, match="Opacus runs 92 steps per epoch, the plan accounted for 93"
    ):
        _private(93, 1, noise=1.0, rate=1 / 93, steps_per_epoch=93)
    with pytest.raises(
        TrainingError,
        match=r"accountant records rate 0\.0108696 per step, the plan accounted for rate 0\.0107527",
    ):
        _private(93, 1, noise=1.0, rate=1 / 93, steps_per_epoch=92)


# -- 5./6. nothing released, nothing kept; losses stay out of the ledger -----------------------


def test_a_run_failing_before_its_first_checkpoint_leaves_no_directory(ws, make_dataset) -> None:
    make_dataset()

    seen: list[bool] = []

    def boom(step: int, total: int) -> None:
        (run_dir,) = ws.runs_dir.iterdir()
        seen.append(
            (run_dir / "metrics.jsonl").exists()
        )  # losses stay in memory until a checkpoint
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        train_run(ws, fast(), on_step=boom)
    start, fail = _events(ws)
    assert fail.event == "train.fail" and fail.payload["released"] is False
    assert seen == [False]
    assert not (ws.runs_dir / start.payload["run_id"]).exists()
