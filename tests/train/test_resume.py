"""Resume: the accountant's state survives, nothing is counted twice, tampering is refused."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from securetune.errors import TrainingError
from securetune.train.loop import train_run
from tests.train.conftest import fast


def _weights(result) -> dict[str, torch.Tensor]:
    return load_file(Path(result.adapter_dir) / "adapter_model.safetensors")


def test_paused_then_resumed_equals_an_uninterrupted_run(ws, make_dataset, fixed_noise) -> None:
    make_dataset()
    cfg = fast(epochs=2, early_stopping_patience=0)
    # Noise/sampling seeds come from os.urandom; pin them here so two runs can be compared.
    fixed_noise([11, 12])
    paused = train_run(ws, cfg, stop_after_epochs=1)
    assert paused.stopped == "paused" and paused.steps == paused.planned_steps // 2
    assert 0 < paused.epsilon_spent < cfg.epsilon
    # Whatever fresh generators resume builds, it must continue the checkpoint's streams.
    fixed_noise(itertools.count(900))
    resumed = train_run(ws, resume=paused.run_id)
    fixed_noise([11, 12])
    whole = train_run(ws, cfg)
    # Same steps, same spend: the first half was neither forgotten nor counted twice.
    assert resumed.steps == whole.steps == whole.planned_steps
    assert resumed.epsilon_spent == pytest.approx(whole.epsilon_spent, rel=1e-12)
    assert resumed.epsilon_spent <= cfg.epsilon
    # Same noise seeds, and resume restores every generator state: bit-identical adapters.
    a, b = _weights(resumed), _weights(whole)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(TrainingError, match="already finished"):
        train_run(ws, resume=paused.run_id)


def test_a_tampered_checkpoint_is_refused(ws, make_dataset) -> None:
    make_dataset()
    paused = train_run(ws, fast(epochs=2), stop_after_epochs=1)
    state = Path(paused.run_dir) / "checkpoint" / "state.json"
    # Rewind the accountant: the classic way to "get budget back".
    state.write_text(
        state.read_text().replace('"history": [[', '"history": [[0.0001, 0.0001, 0], [')
    )
    with pytest.raises(TrainingError, match="checkpoint files do not match the hash in the ledger"):
        train_run(ws, resume=paused.run_id)


def test_a_modified_config_is_refused(ws, make_dataset) -> None:
    make_dataset()
    paused = train_run(ws, fast(epochs=2), stop_after_epochs=1)
    config = Path(paused.run_dir) / "config.json"
    config.write_text(config.read_text().replace('"epsilon": 8.0', '"epsilon": 80.0'))
    with pytest.raises(TrainingError, match=r"config\.json does not match the ledger"):
        train_run(ws, resume=paused.run_id)


def test_unknown_run_is_refused(ws) -> None:
    with pytest.raises(TrainingError, match="no training run nope in the ledger"):
        train_run(ws, resume="nope")


def test_a_run_paused_by_one_securetune_version_resumes_under_the_next(
    ws, make_dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from securetune.train import config as config_module

    make_dataset()
    paused = train_run(ws, fast(epochs=2), stop_after_epochs=1)
    # config.json is stamped with the version that wrote it; upgrading must not orphan the run.
    monkeypatch.setattr(config_module, "__version__", "99.0.0")
    resumed = train_run(ws, resume=paused.run_id)
    assert resumed.stopped != "paused" and resumed.steps == resumed.planned_steps
