"""The guards that turn silent DP failures into loud ones, and the accounting helpers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from securetune.errors import TrainingError
from securetune.train import privacy


def _tiny_private(clipping: str = "hooks") -> tuple[nn.Module, privacy.Private]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    data = torch.utils.data.TensorDataset(torch.randn(16, 4), torch.randint(0, 2, (16,)))
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    private = privacy.make_private(
        model=model,
        optimizer=opt,
        loader=loader,
        epsilon=8.0,
        delta=1e-5,
        epochs=1,
        max_grad_norm=1.0,
        accountant="rdp",
        clipping=clipping,
        criterion=nn.CrossEntropyLoss(),
    )
    return model, private


def test_optimizer_over_other_parameters_is_refused() -> None:
    model = nn.Linear(4, 2)
    other = nn.Linear(4, 2)
    with pytest.raises(
        TrainingError, match="optimizer's parameters are not the model's trainable parameters"
    ):
        privacy.check_wiring(model, torch.optim.SGD(other.parameters(), lr=0.1))


def test_a_parameter_without_per_sample_gradient_is_refused() -> None:
    model, private = _tiny_private()
    out = private.module(torch.randn(3, 4))
    nn.functional.cross_entropy(out, torch.tensor([0, 1, 0])).backward()
    assert privacy.per_sample_norms(private.module, "hooks").shape == (3,)
    model[1].weight.grad_sample = None  # what an unsupported layer looks like to Opacus
    with pytest.raises(
        TrainingError, match="1 of 4 trainable parameters got no per-sample gradient"
    ):
        privacy.per_sample_norms(private.module, "hooks")


def test_unchanged_lora_weights_fail_the_run() -> None:
    before = {"a.lora_A.weight": torch.ones(2, 2), "a.lora_B.weight": torch.zeros(2, 2)}
    with pytest.raises(TrainingError, match="no LoRA weight changed"):
        privacy.check_changed(before, {k: v.clone() for k, v in before.items()})
    moved_a_only = {
        "a.lora_A.weight": torch.full((2, 2), 2.0),
        "a.lora_B.weight": torch.zeros(2, 2),
    }
    with pytest.raises(TrainingError, match="1 LoRA B matrices did not change"):
        privacy.check_changed(before, moved_a_only)


@pytest.mark.parametrize("clipping", ["hooks", "ghost"])
def test_an_empty_poisson_batch_is_a_noisy_accounted_step(clipping: str) -> None:
    model, private = _tiny_private(clipping)
    before = [p.detach().clone() for p in model.parameters()]
    privacy.empty_step(private, clipping)
    assert privacy.history_of(private) == [(private.noise_multiplier, 0.25, 1)]
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


def test_rdp_shortcut_matches_opacus_accountant() -> None:
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    acc.history = [(1.1, 0.01, 300), (0.9, 0.02, 50)]
    ours = privacy.epsilon_of([(1.1, 0.01, 300), (0.9, 0.02, 50)], delta=1e-5, accountant="rdp")
    assert ours == pytest.approx(acc.get_epsilon(delta=1e-5), rel=1e-12)


def test_noise_multiplier_pins_a_known_value() -> None:
    # Opacus's RDP search for (8, 1e-5), q = 0.25, 4 steps; pinned to catch silent changes.
    sigma = privacy.noise_multiplier(epsilon=8.0, delta=1e-5, rate=0.25, steps=4, accountant="rdp")
    assert sigma == pytest.approx(0.7476806640625)
    assert privacy.epsilon_of([(sigma, 0.25, 4)], delta=1e-5, accountant="rdp") <= 8.0
