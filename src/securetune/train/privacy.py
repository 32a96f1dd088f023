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
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import torch
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
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

    return len(
        UniformWithReplacementSampler(
            num_samples=units, sample_rate=poisson_rate(units, batch_size)
        )
    )


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


PLD_DISCRETIZATION = 1e-3
"""dp-accounting's PLD grid step: its estimate is pessimistic (an upper bound on epsilon);
1e-3 is within 1e-4 of the 1e-4 grid on the runs we plan, at a tenth of the cost."""
NOISE_TOLERANCE = 0.01
"""The PLD noise search stops within this much epsilon below the target (Opacus's tolerance)."""


def noise_multiplier(
    *,
    epsilon: float,
    delta: float,
    rate: float,
    steps: int,
    accountant: str,
    neighbours: str = "add-remove",
) -> float:
    """The smallest noise (to Opacus's tolerance) that keeps ``steps`` steps within the budget.

    For prv and rdp this is the search ``PrivacyEngine.make_private_with_epsilon`` runs
    (Opacus's ``get_noise_multiplier`` with sample rate 1/len(loader) and epochs x len(loader)
    steps); those accountants only know add/remove neighbours. pld is Google's
    dp-accounting PLD accountant, which also accounts replace-one neighbours. It costs
    seconds, so ``plan``, the ledger and the engine share one memoised result.
    """
    return _noise_multiplier(
        float(epsilon), float(delta), float(rate), int(steps), accountant, neighbours
    )


@functools.lru_cache(maxsize=64)
def _noise_multiplier(
    epsilon: float, delta: float, rate: float, steps: int, accountant: str, neighbours: str
) -> float:
    if accountant == "pld":
        return _pld_noise(epsilon, delta, rate, steps, neighbours)
    if neighbours != "add-remove":
        raise TrainingError(
            f"the {accountant} accountant accounts add/remove neighbours only; use pld"
        )
    from opacus.accountants.utils import get_noise_multiplier

    try:
        with warnings.catch_warnings():
            # While bracketing the noise, Opacus probes small multipliers whose RDP optimum
            # lies past its largest order and warns; the search result is unaffected, and
            # the warning would only confuse users reading `plan` / `train` output.
            warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
            return float(
                get_noise_multiplier(
                    target_epsilon=epsilon,
                    target_delta=delta,
                    sample_rate=rate,
                    steps=steps,
                    accountant=accountant,
                )
            )
    except ValueError as exc:
        raise TrainingError(
            f"no noise multiplier reaches epsilon {epsilon} at delta {delta}: {exc}"
        ) from None


def _pld_noise(epsilon: float, delta: float, rate: float, steps: int, neighbours: str) -> float:
    """Bisection like Opacus's: the noise whose epsilon lies within NOISE_TOLERANCE below target."""
    history = lambda sigma: [(sigma, rate, steps)]  # noqa: E731
    high = 10.0
    while _pld_epsilon(history(high), delta, neighbours) > epsilon:
        high *= 2
        if high > 1e6:
            raise TrainingError(f"no noise multiplier reaches epsilon {epsilon} at delta {delta}")
    low = 0.0
    while True:
        mid = (low + high) / 2
        eps = _pld_epsilon(history(mid), delta, neighbours)
        if eps > epsilon:
            low = mid
        else:
            high = mid
            if epsilon - eps <= NOISE_TOLERANCE:
                return high


def _pld_epsilon(history: History, delta: float, neighbours: str) -> float:
    from dp_accounting import dp_event
    from dp_accounting.pld.pld_privacy_accountant import PLDAccountant
    from dp_accounting.privacy_accountant import NeighboringRelation

    relation = {
        "add-remove": NeighboringRelation.ADD_OR_REMOVE_ONE,
        "replace-one": NeighboringRelation.REPLACE_ONE,
    }[neighbours]
    acc = PLDAccountant(
        neighboring_relation=relation, value_discretization_interval=PLD_DISCRETIZATION
    )
    for sigma, rate, steps in history:
        if steps == 0:
            continue
        if sigma <= 0:
            return math.inf
        step = dp_event.PoissonSampledDpEvent(float(rate), dp_event.GaussianDpEvent(float(sigma)))
        acc.compose(dp_event.SelfComposedDpEvent(step, int(steps)))
    return float(acc.get_epsilon(delta))


def epsilon_of(
    history: History, *, delta: float, accountant: str, neighbours: str = "add-remove"
) -> float:
    """Epsilon spent by a list of (noise, sample rate, steps) segments.

    RDP composes linearly in steps, so the RDP curve of one step is computed once per
    (noise, rate) and scaled: the same number Opacus's RDP accountant reports, in
    milliseconds instead of a quarter second, which makes per-step epsilon affordable.
    """
    if not history:
        return 0.0
    if accountant == "pld":
        return _pld_epsilon(history, delta, neighbours)
    if neighbours != "add-remove":
        raise TrainingError(
            f"the {accountant} accountant accounts add/remove neighbours only; use pld"
        )
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


def keep_float32(model: nn.Module) -> nn.Module:
    """Run every layer that owns a trainable parameter in float32, whatever autocast says.

    Under bf16 autocast Opacus computes per-sample gradients (hooks) and ghost norms from the
    activations and backprops of the trainable layers in their dtype, so clip factors, the
    clipped sum and the noise (drawn in the sum's dtype) would all be bf16: clipped norms came
    out up to 1.006 C, which the accountant does not allow for. Here those layers (LoRA's
    A and B, a few thousand multiply-adds per token) take float32 inputs and run with autocast
    off, so Opacus sees float32 activations and backprops and everything the guarantee rests
    on stays float32. The frozen base model keeps running in bf16.
    """
    for module in model.modules():
        if getattr(module, "_securetune_float32", False):
            continue
        if not any(p.requires_grad for p in module.parameters(recurse=False)):
            continue
        module.register_forward_pre_hook(_inputs_to_float32)
        module.forward = _autocast_off(module.forward)  # type: ignore[method-assign]
        module._securetune_float32 = True  # type: ignore[assignment]
    return model


def _inputs_to_float32(_module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    # A pre-hook's result replaces the inputs Opacus's forward hook records as activations.
    return tuple(a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args)


def _autocast_off(forward: Any) -> Any:
    @functools.wraps(forward)
    def run(*args: Any, **kwargs: Any) -> Any:
        device = next((a.device.type for a in args if torch.is_tensor(a)), "cpu")
        with torch.autocast(device_type=device, enabled=False):
            return forward(*args, **kwargs)

    return run


def make_private(
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: torch.utils.data.DataLoader,
    epsilon: float,
    delta: float,
    epochs: int,
    max_grad_norm: float,
    accountant: str,
    clipping: str,
    criterion: nn.Module,
    noise_generator: torch.Generator | None = None,
    noise: float | None = None,
    rate: float | None = None,
    steps_per_epoch: int | None = None,
    neighbours: str = "add-remove",
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

    Three things Opacus's defaults leave open are closed here: the trainable layers run in
    float32 under autocast (:func:`keep_float32`); units are included by an integer
    threshold, never above the accounted rate (:class:`ExactPoissonSampler`); and the noise
    uses Opacus's ``secure_mode`` sampling (see :func:`secure_noise`).
    """
    from opacus import PrivacyEngine

    # Opacus's engine keeps the (noise, rate, steps) history; pld reads the same history.
    engine = PrivacyEngine(accountant="rdp" if accountant == "pld" else accountant)
    gen = noise_generator if noise_generator is not None else secret_generator(_device_of(model))
    units = len(loader.dataset)  # type: ignore[arg-type]
    assert loader.batch_size is not None
    if rate is None or steps_per_epoch is None:
        rate = sample_rate(units, loader.batch_size)
        steps_per_epoch = _planned_steps_per_epoch(units, loader.batch_size)
    keep_float32(model)
    common: dict[str, Any] = dict(
        module=model,
        optimizer=optimizer,
        data_loader=poisson_loader(loader),
        criterion=criterion,
        max_grad_norm=max_grad_norm,
        poisson_sampling=False,
        noise_generator=gen,
        grad_sample_mode="ghost" if clipping == "ghost" else "hooks",
        loss_reduction="mean",
    )
    with warnings.catch_warnings():
        # Opacus warns about the secure RNG and full backward hooks; the docs state both.
        warnings.simplefilter("ignore")
        if noise is None:
            noise = noise_multiplier(
                epsilon=epsilon,
                delta=delta,
                rate=rate,
                steps=epochs * steps_per_epoch,
                accountant=accountant,
                neighbours=neighbours,
            )
        out = engine.make_private(noise_multiplier=noise, **common)
    if clipping == "ghost":
        module, dp_opt, crit, dp_loader = out
    else:
        (module, dp_opt, dp_loader), crit = out, None
    if crit is not None:
        check_ghost_reduction(crit)
    secure_noise(dp_opt)
    check_wiring(model, dp_opt)
    check_accounting(engine, dp_opt, dp_loader, rate=rate, steps_per_epoch=steps_per_epoch)
    return Private(
        module=module,
        optimizer=dp_opt,
        loader=dp_loader,
        criterion=crit,
        engine=engine,
        noise_multiplier=float(dp_opt.noise_multiplier),
    )


def check_ghost_reduction(crit: Any) -> None:
    """Refuse ghost clipping when Opacus's criterion does not average each example over its
    own targets.

    Opacus before 1.6 divides each example's summed loss by the padded batch length, so one
    example's gradient depends on how long the *other* examples are: adding or removing one
    unit then changes every other unit's gradient, and the sensitivity is no longer the
    clipping norm. A padded toy batch tells the two reductions apart without a model.
    """
    from securetune.train.data import IGNORE_INDEX as PAD

    logits = torch.zeros(2, 3, 4)
    targets = torch.tensor([[1, 2, PAD], [3, PAD, PAD]])
    per_sample = crit(logits.view(6, 4), targets.view(6), shape=(2, 3, 4)).loss_per_sample
    # Uniform logits: every valid target costs ln 4, so each example's own mean is ln 4.
    expected = torch.full((2,), math.log(4.0))
    if per_sample.shape != (2,) or not torch.allclose(per_sample.float(), expected, atol=1e-5):
        raise TrainingError(
            "this Opacus averages ghost-clipping losses over padding, which breaks the "
            "per-example sensitivity bound; upgrade Opacus (>= 1.6) or use --clipping hooks"
        )


def secure_noise(dp_opt: Any) -> None:
    """Turn on Opacus's defence against floating-point attacks on the Gaussian noise.

    A float sample from ``torch.normal`` is not a real Gaussian: its low bits reveal what it
    was added to (Mironov 2012; Jin et al. 2021 built the attack on Opacus). With
    ``secure_mode`` the optimizer draws one sample to discard, then four per coordinate, and
    returns their sum / 2 (same variance; the attack then needs ~2^159 work, per Opacus's
    notes). Opacus couples the flag to torchcsprng in ``PrivacyEngine``, but the trick itself
    needs no CSPRNG, and our generators are already seeded from ``os.urandom``; so the flag is
    set on the optimizer alone. It costs four noise draws over the LoRA parameters per step.
    """
    dp_opt.secure_mode = True


class ExactPoissonSampler(UniformWithReplacementSampler):
    """Opacus's Poisson sampler without its float32 rounding.

    Opacus includes a unit when ``torch.rand(n) < q`` in float32, i.e. with probability
    ceil(q 2^24) / 2^24, slightly above the q the accountant is told. Here a unit is included
    when a uniform 62-bit integer is below floor(2^62 / k), where q = 1/k: a probability of at
    most 1/k, exactly representable. (torch draws integers in [0, 2^62) from a 64-bit word
    modulo 2^62, which is unbiased.) The number of batches per epoch is Opacus's.
    """

    BITS = 62

    def __init__(
        self, *, num_samples: int, batches: int, generator: torch.Generator | None
    ) -> None:
        super().__init__(num_samples=num_samples, sample_rate=1.0 / batches, generator=generator)
        self.threshold = (1 << self.BITS) // batches

    @property
    def inclusion_probability(self) -> Fraction:
        return Fraction(self.threshold, 1 << self.BITS)

    def __iter__(self):  # type: ignore[no-untyped-def]
        for _ in range(self.steps):
            draws = torch.randint(
                0, 1 << self.BITS, (self.num_samples,), generator=self.generator, dtype=torch.int64
            )
            yield (draws < self.threshold).nonzero(as_tuple=False).reshape(-1).tolist()


def poisson_loader(loader: torch.utils.data.DataLoader) -> Any:
    """Opacus's ``DPDataLoader`` over ``loader``'s dataset, sampling with :class:`ExactPoissonSampler`.

    Built as ``DPDataLoader.from_data_loader`` builds it (empty batches keep their shapes),
    with the loader's collate function and generator, at rate 1/ceil(N / batch_size).
    """
    from opacus.data_loader import DPDataLoader, dtype_safe, shape_safe, wrap_collate_with_empty

    class ExactPoissonLoader(DPDataLoader):
        def __init__(self, base: torch.utils.data.DataLoader) -> None:
            dataset = base.dataset
            assert base.batch_size is not None
            batches = loader_batches(len(dataset), base.batch_size)  # type: ignore[arg-type]
            self.sample_rate, self.distributed = 1.0 / batches, False
            first = dataset[0]
            sample = first if isinstance(first, (tuple, list)) else (first,)
            # DPDataLoader.__init__ would build Opacus's float32 sampler; skip to DataLoader's.
            torch.utils.data.DataLoader.__init__(
                self,
                dataset=dataset,
                generator=base.generator,
                batch_sampler=ExactPoissonSampler(
                    num_samples=len(dataset),  # type: ignore[arg-type]
                    batches=batches,
                    generator=base.generator,
                ),
                collate_fn=wrap_collate_with_empty(
                    collate_fn=base.collate_fn,
                    batch_first=True,
                    rand_on_empty=False,
                    sample_empty_shapes=[(0, *shape_safe(x)) for x in sample],
                    dtypes=[dtype_safe(x) for x in sample],
                ),
            )

    return ExactPoissonLoader(loader)


def check_accounting(
    engine: Any, dp_opt: Any, dp_loader: Any, *, rate: float, steps_per_epoch: int
) -> None:
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
        dp_opt.step_hook(
            SimpleNamespace(noise_multiplier=dp_opt.noise_multiplier, accumulated_iterations=1)
        )
        after = list(accountant.history)
    finally:
        accountant.history = before
    added = after[-1] if after and after != before else None
    if added is None or not math.isclose(float(added[1]), rate, rel_tol=1e-12):
        recorded = "nothing" if added is None else f"rate {float(added[1]):.6g}"
        raise TrainingError(
            f"guard: Opacus's accountant records {recorded} per step, the plan accounted for rate {rate:.6g}"
        )


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
        raise TrainingError(
            f"guard: trainable parameters are spread over devices {sorted(map(str, devices))}"
        )


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
        raise TrainingError(
            f"guard: per-sample gradients disagree on the batch size ({sorted(sizes)})"
        )
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
        raise TrainingError(
            "guard: no LoRA weight changed during training; the adapter would be the base model"
        )
    stuck = [n for n in unchanged if "lora_B" in n]
    if stuck:
        raise TrainingError(
            f"guard: {len(stuck)} LoRA B matrices did not change (first: {stuck[0]})"
        )


def history_of(private: Private | None) -> History:
    if private is None:
        return []
    return [(float(s), float(q), int(n)) for s, q, n in private.engine.accountant.history]


def restore_history(private: Private, history: Sequence[Sequence[float]]) -> None:
    private.engine.accountant.history = [(float(s), float(q), int(n)) for s, q, n in history]
