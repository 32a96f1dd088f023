"""Opacus wiring and the guards that make a DP run fail loudly instead of silently.

The facade is :func:`make_private`: Poisson sampling over privacy units, a noise multiplier
derived from the target (epsilon, delta) by the chosen accountant, per-sample gradients by
hooks or ghost clipping. The guards exist because the usual failures are silent:

* the optimizer holds parameters the module does not train (the model was moved to a device
  after wrapping): Opacus then reports epsilon while the LoRA weights never change;
* a trainable parameter whose layer Opacus cannot see gets no per-sample gradient, and
  ``DPOptimizer.pre_step`` skips clipping *and noise* when it finds none;
* an empty Poisson batch must still be a noisy step, or the accountant over-counts privacy
  that the update never paid for (and the step leaks the batch being empty).

Pure accounting (noise from a budget, epsilon from a history) lives in :mod:`.plan`-friendly
functions here too, so ``securetune plan`` and ``train`` compute the very same numbers.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from securetune.errors import TrainingError

History = list[tuple[float, float, int]]


def loader_batches(units: int, batch_size: int) -> int:
    """Batches of the plain loader handed to Opacus: ceil(N / batch)."""
    return math.ceil(units / batch_size)


def poisson_rate(units: int, batch_size: int) -> float:
    """The probability with which Opacus's DPDataLoader includes each unit in a step.

    ``DPDataLoader.from_data_loader`` samples with rate 1/len(loader) = 1/ceil(N / batch).
    """
    return 1.0 / loader_batches(units, batch_size)


def steps_per_epoch(units: int, batch_size: int) -> int:
    """The steps Opacus actually runs per epoch: len(DPDataLoader).

    Its sampler runs ``int(1 / sample_rate)`` batches, which is ceil(N / batch) - 1 for many
    sizes (93, 99, 105, ...: 1/(1/93) is 92.99999...). Computed by Opacus's own sampler so
    the plan cannot drift from what the loader does.
    """
    from opacus.utils.uniform_sampler import UniformWithReplacementSampler

    return len(UniformWithReplacementSampler(num_samples=units, sample_rate=poisson_rate(units, batch_size)))


_planned_steps_per_epoch = steps_per_epoch  # make_private's parameter shadows the name


def sample_rate(units: int, batch_size: int) -> float:
    """The rate Opacus's accountant records per step: 1/len(DPDataLoader).

    It is >= the real inclusion probability (:func:`poisson_rate`), so accounting with it is
    conservative; the plan, the noise search and the guard all use this number.
    """
    return 1.0 / steps_per_epoch(units, batch_size)


def secret_generator(device: torch.device | str = "cpu") -> torch.Generator:
    """A generator seeded from ``os.urandom``, never from ``--seed`` or any public value.

    Used for the DP noise and the Poisson sampling. torch's CPU generator (mt19937) keeps only
    32 bits of a seed, so its whole 624-word state is filled from ``os.urandom`` too. The
    state is saved only in the run's (secret) checkpoint, so a resumed run continues the
    same streams; it is never ledgered.
    """
    gen = torch.Generator(device=device)
    gen.manual_seed(int.from_bytes(os.urandom(8), "little") & (2**63 - 1))
    if gen.device.type == "cpu":
        state = bytearray(gen.get_state().numpy().tobytes())
        # Layout (torch CPUGeneratorImplState): u64 seed, i32 left, i32 seeded, u64 next,
        # u64 state[624] (32-bit words), then the cached normal sample.
        words = os.urandom(4 * 624)
        for i in range(624):
            state[24 + 8 * i : 32 + 8 * i] = words[4 * i : 4 * i + 4] + bytes(4)
        gen.set_state(torch.frombuffer(state, dtype=torch.uint8).clone())
    return gen


def noise_multiplier(*, epsilon: float, delta: float, rate: float, steps: int, accountant: str) -> float:
    """The smallest noise (to Opacus's tolerance) that keeps ``steps`` steps within the budget.

    This is the search ``PrivacyEngine.make_private_with_epsilon`` runs (Opacus's
    ``get_noise_multiplier`` with sample rate 1/len(loader) and epochs x len(loader) steps).
    It costs seconds, so ``plan``, the ledger and the engine share one memoised result.
    """
    return _noise_multiplier(float(epsilon), float(delta), float(rate), int(steps), accountant)


@functools.lru_cache(maxsize=64)
def _noise_multiplier(epsilon: float, delta: float, rate: float, steps: int, accountant: str) -> float:
    from opacus.accountants.utils import get_noise_multiplier

    try:
        with warnings.catch_warnings():
            # While bracketing the noise, Opacus probes small multipliers whose RDP optimum
            # lies past its largest order and warns; the search result is unaffected, and
            # the warning would only confuse users reading `plan` / `train` output.
            warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
            return float(get_noise_multiplier(
                target_epsilon=epsilon, target_delta=delta, sample_rate=rate, steps=steps,
                accountant=accountant,
            ))
    except ValueError as exc:
        raise TrainingError(f"no noise multiplier reaches epsilon {epsilon} at delta {delta}: {exc}") from None


def epsilon_of(history: History, *, delta: float, accountant: str) -> float:
    """Epsilon spent by a list of (noise, sample rate, steps) segments.

    RDP composes linearly in steps, so the RDP curve of one step is computed once per
    (noise, rate) and scaled: the same number Opacus's RDP accountant reports, in
    milliseconds instead of a quarter second, which makes per-step epsilon affordable.
    """
    if not history:
        return 0.0
    if accountant == "rdp":
        from opacus.accountants.analysis.rdp import get_privacy_spent
        from opacus.accountants.rdp import RDPAccountant

        orders = RDPAccountant.DEFAULT_ALPHAS
        total = sum(n * _rdp_one_step(float(s), float(q)) for s, q, n in history)
        eps, _ = get_privacy_spent(orders=orders, rdp=total, delta=delta)
        return float(eps)
    acc = new_accountant(accountant)
    acc.history = [tuple(h) for h in history]  # type: ignore[misc]
    return float(acc.get_epsilon(delta=delta))


@functools.lru_cache(maxsize=64)
def _rdp_one_step(noise: float, rate: float) -> Any:
    from opacus.accountants.analysis.rdp import compute_rdp
    from opacus.accountants.rdp import RDPAccountant

    return compute_rdp(q=rate, noise_multiplier=noise, steps=1, orders=RDPAccountant.DEFAULT_ALPHAS)


def new_accountant(name: str) -> Any:
    from opacus.accountants import create_accountant

    return create_accountant(mechanism=name)


@dataclass
class Private:
    """What :func:`make_private` returns: use ``module`` for forward passes."""

    module: nn.Module
    optimizer: Any  # opacus DPOptimizer
    loader: Any  # opacus DPDataLoader
    criterion: Any | None  # ghost clipping's wrapped criterion, else None
    engine: Any  # opacus PrivacyEngine (its .accountant holds the history)
    noise_multiplier: float


def make_private(
    *, model: nn.Module, optimizer: torch.optim.Optimizer, loader: torch.utils.data.DataLoader,
    epsilon: float, delta: float, epochs: int, max_grad_norm: float, accountant: str,
    clipping: str, criterion: nn.Module, noise_generator: torch.Generator | None = None,
    noise: float | None = None, rate: float | None = None, steps_per_epoch: int | None = None,
) -> Private:
    """Wrap model, optimizer and loader with the noise :func:`noise_multiplier` derives.

    ``make_private`` is given the multiplier rather than letting ``make_private_with_epsilon``
    search for it again: the search is the same function with the same inputs (checked
    below through the sample rate), run once and recorded in ``train.start`` before the
    engine exists. A resumed run must reuse that multiplier: re-deriving it against an
    accountant that already holds history would silently change the guarantee.

    ``rate`` and ``steps_per_epoch`` are the planned accounting numbers (default: what
    :func:`sample_rate` / :func:`steps_per_epoch` give for the loader). Before any training
    step, the guard checks them against what Opacus will do: the length of its DP loader,
    and the rate its accountant hook actually records (probed once, then undone). The noise
    generator defaults to :func:`secret_generator` (never a public seed).
    """
    from opacus import PrivacyEngine

    engine = PrivacyEngine(accountant=accountant)
    gen = noise_generator if noise_generator is not None else secret_generator(_device_of(model))
    units = len(loader.dataset)  # type: ignore[arg-type]
    if rate is None or steps_per_epoch is None:
        assert loader.batch_size is not None
        rate = sample_rate(units, loader.batch_size)
        steps_per_epoch = _planned_steps_per_epoch(units, loader.batch_size)
    common: dict[str, Any] = dict(
        module=model, optimizer=optimizer, data_loader=loader, criterion=criterion,
        max_grad_norm=max_grad_norm, poisson_sampling=True, noise_generator=gen,
        grad_sample_mode="ghost" if clipping == "ghost" else "hooks", loss_reduction="mean",
    )
    with warnings.catch_warnings():
        # Opacus warns about the secure RNG and full backward hooks; the docs state both.
        warnings.simplefilter("ignore")
        if noise is None:
            noise = noise_multiplier(epsilon=epsilon, delta=delta, rate=rate, steps=epochs * steps_per_epoch,
                                     accountant=accountant)
        out = engine.make_private(noise_multiplier=noise, **common)
    if clipping == "ghost":
        module, dp_opt, crit, dp_loader = out
    else:
        (module, dp_opt, dp_loader), crit = out, None
    check_wiring(model, dp_opt)
    check_accounting(engine, dp_opt, dp_loader, rate=rate, steps_per_epoch=steps_per_epoch)
    return Private(module=module, optimizer=dp_opt, loader=dp_loader, criterion=crit,
                   engine=engine, noise_multiplier=float(dp_opt.noise_multiplier))


def check_accounting(engine: Any, dp_opt: Any, dp_loader: Any, *, rate: float, steps_per_epoch: int) -> None:
    """Guard, before the first step: Opacus must run and account what was planned.

    * its loader runs ``steps_per_epoch`` steps an epoch;
    * it samples each unit with probability at most ``rate`` (accounting at a higher rate
      than the real one is conservative, a lower one would under-count);
    * its accountant hook records exactly ``rate`` per step: the hook is called once on the
      optimizer's current noise and the entry it adds is read back and removed.
    """
    if len(dp_loader) != steps_per_epoch:
        raise TrainingError(
            f"guard: Opacus runs {len(dp_loader)} steps per epoch, the plan accounted for {steps_per_epoch}"
        )
    if dp_loader.sample_rate > rate * (1 + 1e-12):
        raise TrainingError("guard: Opacus samples at a higher rate than the one accounted for")
    accountant = engine.accountant
    before = list(accountant.history)
    try:
        dp_opt.step_hook(SimpleNamespace(noise_multiplier=dp_opt.noise_multiplier, accumulated_iterations=1))
        after = list(accountant.history)
    finally:
        accountant.history = before
    added = after[-1] if after and after != before else None
    if added is None or not math.isclose(float(added[1]), rate, rel_tol=1e-12):
        recorded = "nothing" if added is None else f"rate {float(added[1]):.6g}"
        raise TrainingError(f"guard: Opacus's accountant records {recorded} per step, the plan accounted for rate {rate:.6g}")


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def check_wiring(model: nn.Module, optimizer: Any) -> None:
    """The optimizer must hold exactly the model's trainable parameters, on one device."""
    model_params = {id(p) for p in trainable(model)}
    opt_params = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if not model_params:
        raise TrainingError("guard: the model has no trainable parameters (LoRA was not applied)")
    if model_params != opt_params:
        raise TrainingError(
            "guard: the optimizer's parameters are not the model's trainable parameters "
            "(was the model moved or re-wrapped after the optimizer was built?)"
        )
    devices = {p.device for p in trainable(model)}
    if len(devices) != 1:
        raise TrainingError(f"guard: trainable parameters are spread over devices {sorted(map(str, devices))}")


def per_sample_norms(model: nn.Module, clipping: str) -> torch.Tensor:
    """Per-unit gradient norms of the last backward pass (before clipping).

    Also the "every trainable parameter gets a per-sample gradient" guard: a parameter
    without one raises instead of being trained without clipping or noise.
    """
    params = trainable(model)
    norms: list[torch.Tensor] = []
    missing = 0
    for p in params:
        if clipping == "ghost":
            ns = getattr(p, "_norm_sample", None)
            if ns is None:
                missing += 1
                continue
            norms.append(ns.reshape(len(ns), -1).norm(2, dim=-1) if ns.dim() > 1 else ns)
        else:
            gs = getattr(p, "grad_sample", None)
            if gs is None:
                missing += 1
                continue
            g = gs[-1] if isinstance(gs, list) else gs
            norms.append(g.reshape(len(g), -1).norm(2, dim=-1))
    if missing:
        raise TrainingError(
            f"guard: {missing} of {len(params)} trainable parameters got no per-sample gradient; "
            "Opacus cannot clip them (unsupported layer type?)"
        )
    sizes = {len(n) for n in norms}
    if len(sizes) != 1:
        raise TrainingError(f"guard: per-sample gradients disagree on the batch size ({sorted(sizes)})")
    return torch.stack(norms, dim=1).norm(2, dim=1)


def empty_step(private: Private, clipping: str) -> None:
    """A Poisson batch with no units is still a step: noise only, and it is accounted."""
    for p in trainable(private.module):
        if clipping == "ghost":
            p.grad = torch.zeros_like(p)
        else:
            p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype, device=p.device)
    private.optimizer.step()
    private.optimizer.zero_grad()


def check_changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> None:
    """Guard: training must move the LoRA weights (all B matrices get a gradient every step)."""
    unchanged = [n for n, t in before.items() if torch.equal(t, after[n])]
    if len(unchanged) == len(before):
        raise TrainingError("guard: no LoRA weight changed during training; the adapter would be the base model")
    stuck = [n for n in unchanged if "lora_B" in n]
    if stuck:
        raise TrainingError(f"guard: {len(stuck)} LoRA B matrices did not change (first: {stuck[0]})")


def history_of(private: Private | None) -> History:
    if private is None:
        return []
    return [(float(s), float(q), int(n)) for s, q, n in private.engine.accountant.history]


def restore_history(private: Private, history: Sequence[Sequence[float]]) -> None:
    private.engine.accountant.history = [(float(s), float(q), int(n)) for s, q, n in history]
