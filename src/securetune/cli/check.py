"""``securetune check RUN``: memorisation and privacy measurements of a trained run."""

from __future__ import annotations

from typing import Any

import click

from securetune.checks import CHECKS as CHECK_NAMES
from securetune.cli.context import AppContext, emit, pass_app
from securetune.errors import PolicyError


@click.command("check")
@click.argument("run_id", metavar="RUN")
@click.option(
    "--only",
    help=f"Comma-separated checks to run ({','.join(CHECK_NAMES)}). Default: all.",
)
@click.option(
    "--references",
    type=int,
    default=10_000,
    show_default=True,
    help="Reference secrets per canary for exposure.",
)
@click.option(
    "--exposure-canaries",
    type=int,
    default=2,
    show_default=True,
    help="Canaries whose exposure is measured (half included, half not, when possible); each costs --references scored candidates.",
)
@click.option(
    "--bootstrap", type=int, default=1000, show_default=True, help="AUC bootstrap rounds."
)
@click.option(
    "--generations", type=int, default=32, show_default=True, help="Samples scanned for PII."
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds reference draws, subsampling, bootstrap and sampling (none of it secret).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_app
def check(app: AppContext, run_id: str, only: str | None, as_json: bool, **kw: Any) -> None:
    """Measure what a trained run memorised and apply the policy's gates; exit 1 on a failed gate.

    \b
    securetune check RUN_ID
    securetune check RUN_ID --only mia,epsilon --json
    """
    from securetune.checks.runner import CheckOptions, check_run

    names = tuple(n.strip() for n in only.split(",") if n.strip()) if only is not None else None
    options = CheckOptions(only=names, **kw)
    ws = app.open()
    with app.progress("checking"):
        result = check_run(ws, run_id, options)
    if options.references < 10_000 and "exposure" in result["details"]:
        app.err.print(
            f"note: exposure used {options.references:,} references per canary (fewer than the 10,000 "
            "the method calls for): it saturates at a lower rank"
        )
    for name, why in result["skipped"].items():
        app.err.print(f"note: {name} not measured: {why}")
    emit(result, as_json=as_json, human=_human(result))
    failed = [g for g in result["gates"] if g["passed"] is False]
    if failed:
        raise PolicyError(
            f"check of run {run_id} failed {len(failed)} gate(s): "
            + "; ".join(f"{g['name']} {_v(g['value'])} > {_v(g['limit'])}" for g in failed)
            + (
                ""
                if not any(g["note"].startswith("BUG") for g in failed)
                else " (" + failed[-1]["note"] + ")"
            )
        )


def _v(x: Any) -> str:
    if x is None:
        return "n/a"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def _human(r: dict[str, Any]) -> str:
    kind = (
        f"DP run, epsilon {_v(r['epsilon'])}, delta {_v(r['delta'])}"
        if r["dp"]
        else "NON-PRIVATE baseline"
    )
    ci = r["mia_auc_ci"]
    lines = [
        f"Check {r['check_id']} of run {r['run_id']} ({kind}, {r['seconds']} s)",
        f"  membership:  AUC {_v(r['mia_auc'])} ({r.get('mia_attack', 'n/a')}), 95% CI "
        f"{'n/a' if ci is None else f'[{ci[0]:.3f}, {ci[1]:.3f}]'}, TPR at 1% FPR {_v(r['tpr_at_1pct_fpr'])}",
        f"  epsilon:     empirical lower bound {_v(r['epsilon_lower_bound'])} "
        f"(this audit could certify at most {_v(r['epsilon_certifiable_max'])})",
        f"  exposure:    included canaries mean {_v(r['exposure_mean'])} bits, max "
        f"{_v(r.get('exposure_max_included'))}; excluded max {_v(r.get('exposure_max_excluded'))} "
        f"(of {_v(r.get('log2_space'))})",
        f"  extraction:  exact rate {_v(r['extraction_rate'])} on training units, "
        f"{_v(r.get('extraction_rate_heldout'))} held out; canaries reproduced {_v(r['canaries_extracted'])}",
        f"  PII:         {_v(r['pii_regurgitated'])} generated values match training values",
        f"  gates ({r['gates_source']}):",
    ]
    for g in r["gates"]:
        state = {True: "pass", False: "FAIL", None: "n/a "}[g["passed"]]
        lines.append(
            f"    {state}  {g['name']} {_v(g['value'])} <= {_v(g['limit'])}"
            + (f"  {g['note']}" if g["note"] else "")
        )
    return "\n".join(lines)
