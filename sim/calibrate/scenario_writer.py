"""A runnable scenario (docs/model.md section 2) from the fits, as commented TOML text.

Fitted values become the scenario's parameters; their 95% intervals, the goodness-of-fit tests
and the data behind them (attempts, crashes, observation window) become comments. What the
data cannot tell (step kinds and prices, restart times, drain, strategies) comes from a
template scenario when one is given, otherwise from the core's defaults, and the comments say
so.

Where the data show parallelism (:mod:`sim.calibrate.graph`), a step gets ``count`` (a fan-out:
a fixed number, or ``{ dist = "empirical", values, weights }`` of the observed counts) and
``after`` (its predecessors, when they are not simply the previous step) and ``max_concurrency``
(when the instances never all ran at once), in the workflow-graph
format of docs/model.md. A chain is written exactly as before: no ``count``, no ``after``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.calibrate.attempts import WAIT_KINDS
from sim.calibrate.errors import DataError
from sim.calibrate.fits import Calibration, DurationFit, Estimate
from sim.calibrate.graph import WorkflowShape, infer_shape
from sim.calibrate.text import _dur as _dur_text
from sim.calibrate.text import _interval, _num, _p
from sim.model.toml_text import toml_key, toml_value
from sim.model.units import format_duration

DEFAULT_PROFILE = "article-2026-04"
#: orchestration prices of a scenario fitted from Temporal histories (without a template)
TEMPORAL_ORCHESTRATION = "temporal-cloud-payg"
#: an activity whose name says it calls a model is written as an llm step (placeholders)
LLM_NAME_RE = re.compile(r"llm|model|gpt|openai|anthropic|claude|gemini|completion|chat|"
                         r"prompt|agent|embed|inference|generat", re.IGNORECASE)
PLACEHOLDER_MODEL = "gpt-5.4-mini"  # a model of the default pricing profile
PLACEHOLDER_TOKENS = (1000, 500)  # input, output tokens per call: placeholders to replace


# --------------------------------------------------------------------------- TOML emitting




def _table(header: str, table: Mapping[str, Any], *, array: bool = False) -> list[str]:
    """Lines of one table: scalars (and inline values) first, then its sub-tables."""
    lines = [f"[[{header}]]" if array else f"[{header}]"]
    subs: list[tuple[str, Mapping[str, Any]]] = []
    for k, v in table.items():
        if isinstance(v, Mapping) and not (header.startswith("steps") and k in ("duration",
                                                                                "count")):
            subs.append((k, v))
        else:
            lines.append(f"{toml_key(k)} = {toml_value(v)}")
    for k, v in subs:
        lines += _table(f"{header}.{toml_key(k)}", v)
    return lines


def _dur(seconds: float) -> str:
    """A duration string the loader reads back exactly enough ("61.234s")."""
    return f"{float(seconds):.6g}s"


def _ci(e: Estimate) -> str:
    return f"{_dur_text(e.value)} {_interval(_dur_text(e.low), _dur_text(e.high), e.low, e.high)}"


def duration_table(fit: DurationFit) -> str | dict[str, str]:
    """The scenario's duration value of a fit: a fixed string or a lognormal table."""
    if fit.dist == "fixed" or _dur(fit.p95_s.value) == _dur(fit.median_s.value) or (
            fit.p95_s.value <= fit.median_s.value):
        return _dur(fit.median_s.value)  # (a spread too small to show in 6 digits: fixed)
    return {"dist": "lognormal", "median": _dur(fit.median_s.value), "p95": _dur(fit.p95_s.value)}


def _duration_comment(fit: DurationFit, what: str = "completed attempts") -> list[str]:
    if fit.n == 1:
        return [f"# duration: one observation ({format_duration(fit.median_s.value)}): written as "
                "a fixed duration, no interval (one value says nothing of the spread)"]
    if fit.dist == "fixed":
        return [f"# duration: all {fit.n} {what} took {format_duration(fit.median_s.value)}"]
    return [
        f"# duration: lognormal MLE from {fit.n} {what}"
        + (f" (+{fit.n_censored} killed, right-censored)" if fit.n_censored else ""),
        f"#   median {_ci(fit.median_s)}, p95 {_ci(fit.p95_s)} (95% intervals)",
        f"#   empirical median {_ci(fit.empirical_median_s)}, p95 {_ci(fit.empirical_p95_s)}",
        f"#   {fit.gof.test}: D = {_num('{:.3g}', fit.gof.statistic)}, p = {_p(fit.gof.p_value)}"
        + ("  <- lognormal rejected at 1%: check the ECDF plot" if fit.gof.p_value < 0.01 else ""),
    ]


def format_window(window: tuple[float, float], *, relative: str = "simulated time per run"
                  ) -> str:
    """'2026-03-02 09:00:00Z -> 2026-03-05 17:12:03Z (3.3d)', or '0s -> 5.2h (<relative>)' when
    the times are not epoch seconds."""
    a, b = window
    if not (np.isfinite(a) and np.isfinite(b)):
        return "unknown"
    if a > 1e8:  # epoch seconds
        fa = pd.Timestamp(a, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%SZ")
        fb = pd.Timestamp(b, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%SZ")
        return f"{fa} -> {fb} ({format_duration(b - a)})"
    return f"{format_duration(a)} -> {format_duration(b)} ({relative})"


# --------------------------------------------------------------------------- step order


def step_order(attempts: pd.DataFrame) -> list[str]:
    """Steps ordered by their mean rank of first start within a workflow."""
    known = attempts[~attempts["inferred"]]
    if len(known) == 0:
        return list(map(str, pd.unique(attempts["step"])))
    first = known.groupby(["workflow_id", "step"], sort=False)["start_s"].min().reset_index()
    first["rank"] = first.groupby("workflow_id")["start_s"].rank(method="first")
    mean_rank = first.groupby("step", sort=False)["rank"].mean()
    ordered = [str(s) for s in mean_rank.sort_values(kind="stable").index]
    rest = [str(s) for s in pd.unique(attempts["step"]) if str(s) not in ordered]
    return ordered + rest


# --------------------------------------------------------------------------- the scenario


def _read_template(template: str | Path | None) -> tuple[dict[str, Any], Path | None]:
    if template is None:
        return {}, None
    p = Path(template)
    try:
        with p.open("rb") as f:
            return tomllib.load(f), p
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DataError(f"cannot read the template scenario: {exc}", file=str(p)) from exc


def _bundled_models(profile: str) -> set[str]:
    from sim.model.scenario import load_pricing_profile

    table, _ = load_pricing_profile(profile)
    return set(table.get("models", {}))


def scenario_toml(cal: Calibration, attempts: pd.DataFrame, *,
                  template: str | Path | None = None, out_path: str | Path | None = None,
                  name: str | None = None, warnings: list[str] | None = None) -> str:
    """TOML text of a runnable scenario with the fitted values (see module docstring).

    ``template``: a scenario file whose steps (kinds, prices, tokens, retry policies), pricing,
    simulation, defaults, strategies and failure settings that the data cannot tell (restart
    times, drain, detection delay) are kept. ``out_path`` makes a template's relative pricing
    profile path relative to where the scenario will be written. ``warnings`` (a list) receives
    one line per value the data could not give that matters to the results (an llm step's
    placeholder model and tokens, a step whose compute is priced at $0).

    Temporal histories (``attempts.attrs["histories"]``) add: wait steps (``kind = "wait"``)
    for fired timers and signal waits, comments on local activities and child workflows, the
    history counts as comments, and the billed timers and signals that are not steps as
    ``[pricing.orchestration] timers_per_run`` / ``signals_per_run``.
    """
    warn = warnings if warnings is not None else []
    raw, tpath = _read_template(template)
    infos = attempts.attrs.get("histories")
    summary = None
    if infos:
        from sim.calibrate.history_summary import summarise

        summary = summarise(infos)
    lines: list[str] = [
        "# Calibrated with `python -m sim fit` (sim.calibrate) from " + cal.source,
        f"# data: {cal.n_attempts} attempts"
        + (f" ({cal.n_inferred} known only from Temporal's attempt counter)" if cal.n_inferred
           else "")
        + f" of {cal.n_workflows} workflows; window {format_window(cal.window)}",
        "# outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(cal.outcome_counts.items())),
        "# intervals are 95%; see `python -m sim fit --help` and docs/calibration.md",
    ]
    if summary is not None:
        from sim.calibrate.history_summary import summary_lines

        lines += [f"# {line}" for line in summary_lines(summary)]
    if tpath is not None:
        lines.append(f"# steps, pricing and strategies from the template {tpath}")
    lines.append("")
    base_name = raw.get("name") if isinstance(raw.get("name"), str) else None
    lines.append(f"name = {toml_value(name or (base_name + '-calibrated' if base_name else 'calibrated'))}")
    lines.append(f"description = {toml_value('Fitted from ' + cal.source)}")
    lines.append("")

    # pricing
    if "pricing" in raw:
        pricing = dict(raw["pricing"])
    elif summary is not None:  # as the bundled scenarios name them: model prices, orchestration
        pricing = {"profile": DEFAULT_PROFILE, "orchestration": TEMPORAL_ORCHESTRATION}
    else:
        pricing = {"profile": DEFAULT_PROFILE}
    profile = pricing.get("profile")
    if tpath is not None and isinstance(profile, str):
        from sim.model.scenario import bundled_pricing_profiles

        if profile not in bundled_pricing_profiles():
            resolved = (tpath.parent / profile).resolve()
            base = Path(out_path).resolve().parent if out_path else Path.cwd()
            pricing["profile"] = os.path.relpath(resolved, base)
    tsteps = {s.get("name"): s for s in raw.get("steps", []) if isinstance(s, dict)}
    order = list(tsteps) if tsteps else step_order(attempts)
    data_steps = set(map(str, pd.unique(attempts["step"])))
    if tsteps and not data_steps & set(tsteps):
        raise DataError(f"no step of the data ({', '.join(sorted(data_steps))}) is a step of the "
                        f"template ({', '.join(map(str, tsteps))}): step names must match",
                        file=str(tpath))
    shape = infer_shape(attempts, order)
    step_tables: list[tuple[dict[str, Any], list[str]]] = []
    llm_guess: list[str] = []
    unpriced: list[str] = []
    unknown_models: list[str] = []
    known_models = _bundled_models(DEFAULT_PROFILE) if not raw else set()
    for step in order:
        comments: list[str] = []
        fit = cal.durations.get(step)
        rows = attempts[attempts["step"] == step]
        kind = str(rows["kind"].mode().iloc[0]) if "kind" in rows.columns and len(rows) else (
            "activity")
        comments += _kind_comment(kind, rows)
        if tsteps:
            table = {k: v for k, v in tsteps[step].items()}
        else:
            models = rows["model"].dropna() if "model" in rows.columns else pd.Series([], dtype=str)
            if kind in WAIT_KINDS:
                table = {"name": step, "kind": "wait", "wait": kind}
            elif len(models):
                model = str(models.mode().iloc[0])
                table = {"name": step, "kind": "llm", "model": model}
                done = rows[rows["outcome"] == "completed"]
                for col, key in (("tokens_in", "input_tokens"), ("tokens_out", "output_tokens")):
                    if col in done.columns and done[col].notna().any():
                        table[key] = int(round(float(done[col].median())))
                        comments.append(f"# {key}: median over {int(done[col].notna().sum())} "
                                        "completed attempts")
                if model not in known_models:
                    unknown_models.append(model)
            elif kind != "child_workflow" and LLM_NAME_RE.search(step):
                table = {"name": step, "kind": "llm", "model": PLACEHOLDER_MODEL,
                         "input_tokens": PLACEHOLDER_TOKENS[0],
                         "output_tokens": PLACEHOLDER_TOKENS[1]}
                comments.append("# its name looks like a model call: model and tokens are "
                                "placeholders, not in the data: set them (or fit with --template)")
                llm_guess.append(step)
            else:
                table = {"name": step, "kind": "gpu", "price_per_hour": 0.0}
                comments.append("# kind and price are not in the data: set gpu = \"<kind>\" or "
                                "price_per_hour (or fit with --template)")
                unpriced.append(step)
        if fit is not None:
            table["duration"] = duration_table(fit)
            what = {"timer": "fired timers", "signal": "waits"}.get(kind, "completed attempts")
            comments = _duration_comment(fit, what) + comments
        elif step in data_steps:
            comments.append("# no completed attempt with known times: duration from the template")
        else:
            comments.append("# step not in the data: duration from the template")
        if "duration" not in table:
            raise DataError(f"step {step!r} has no completed attempt to fit a duration from; "
                            "give a --template that sets it", file=cal.source)
        comments += _graph_keys(table, shape, step)
        seen = shape.steps[step].n_workflows
        if step in data_steps and 0 < seen < cal.n_workflows:
            comments.append(f"# seen in {seen} of {cal.n_workflows} workflows: the scenario runs "
                            "it in every run")
        step_tables.append((table, comments))
    if llm_guess:
        warn.append(f"{_steps_text(llm_guess)} look{'s' if len(llm_guess) == 1 else ''} like a "
                    f"model call: written as llm steps with the placeholder model "
                    f"{PLACEHOLDER_MODEL!r} and {PLACEHOLDER_TOKENS[0]}/{PLACEHOLDER_TOKENS[1]} "
                    "input/output tokens per call; set them (or give --template)")
    if unpriced:
        warn.append(f"{_steps_text(unpriced)}: kind and price not in the data: written as gpu "
                    "steps with price_per_hour = 0, so their compute costs $0; set gpu or "
                    "price_per_hour (or give --template)")
    extra = sorted(data_steps - set(order))
    for model in sorted(set(unknown_models)):
        pricing.setdefault("models", {})[model] = {"input_per_mtok": 0.0, "output_per_mtok": 0.0}
    if summary is not None:
        extras = {k: float(f"{v:.6g}") for k, v in (("timers_per_run", summary.timers_per_run),
                                                    ("signals_per_run", summary.signals_per_run))
                  if v > 0}
        if extras:
            orch = pricing.get("orchestration")
            orch = {"profile": orch} if isinstance(orch, str) else dict(orch or {})
            orch.update(extras)
            pricing["orchestration"] = orch
            lines.append("# timers and signals that are not wait steps, per run (Temporal bills "
                         "each one; the wait steps are billed by the engines)")
    lines += _table("pricing", {k: v for k, v in pricing.items() if k != "models"})
    for model, prices in pricing.get("models", {}).items():
        if model in unknown_models:
            lines.append(f"# model {model!r} is not in the pricing profile: prices unknown, set them")
        lines += _table(f"pricing.models.{toml_key(model)}", prices)
    lines.append("")
    for key in ("simulation", "defaults"):
        if isinstance(raw.get(key), dict):
            lines += _table(key, raw[key])
            lines.append("")
    if extra:
        lines.append(f"# steps in the data but not in the template, left out: {', '.join(extra)}")
        lines.append("")
    for table, comments in step_tables:
        lines += comments
        lines += _table("steps", table, array=True)
        lines.append("")

    lines += _failure_lines(cal, raw.get("failures", {}) if isinstance(raw.get("failures"),
                                                                       dict) else {}, order)
    strategies = raw.get("strategies") if isinstance(raw.get("strategies"), dict) else {
        "restart": {}, "durable": {}}

    def with_strategies(tables: dict[str, Any], notes: list[str]) -> str:
        out = list(lines) + notes
        for label, table in tables.items():
            out += _table(f"strategies.{toml_key(label)}", table)
        return "\n".join(out).rstrip() + "\n"

    text = with_strategies(strategies, [])
    durable = strategies.get("durable")
    if summary is not None and isinstance(durable, dict) and "persist_latency" not in durable:
        from sim.calibrate.overhead import fit_overhead

        oh = fit_overhead(text, summary.orchestration_s)
        if oh is not None:
            notes = [
                "# durable persist_latency: the histories' median time with no step running "
                f"(workflow tasks, task queues), {format_duration(oh.orchestration_s)}, over the "
                f"{oh.events_on_path:.4g} history events on the scenario's critical path "
                f"(whose steps take {format_duration(oh.makespan_s)}, simulated median without "
                "failures; sim/calibrate/overhead.py)"]
            tables = dict(strategies)
            tables["durable"] = {**durable, "persist_latency": _dur(oh.persist_latency_s)}
            text = with_strategies(tables, notes)
    return text


def _steps_text(steps: list[str], most: int = 4) -> str:
    """'step 'a'' or 'steps 'a', 'b', ... (12 steps)'."""
    if len(steps) == 1:
        return f"step {steps[0]!r}"
    shown = ", ".join(repr(s) for s in steps[:most])
    return f"steps {shown}" + (f", ... ({len(steps)} steps)" if len(steps) > most else "")


def _kind_comment(kind: str, rows: pd.DataFrame) -> list[str]:
    """What a step of a Temporal history is, when it is not a plain activity."""
    if kind == "local_activity":
        return ["# local activity (MarkerRecorded): run as an activity step; from the start of "
                "the workflow task that ran it to its completion (docs/model.md, local activities)"]
    if kind == "child_workflow":
        return ["# child workflow: one step from its start to its close; its own activities are "
                "in its own history (fit that history for its compute and prices)"]
    if kind == "timer":
        return ["# durable timer (TimerStarted -> TimerFired)"]
    if kind == "signal":
        return ["# waited for a signal or update: from the workflow task before it to its "
                "arrival"]
    return []


def _graph_keys(table: dict[str, Any], shape: WorkflowShape, step: str) -> list[str]:
    """Set ``after`` and ``count`` on a step table where the data show them; their comments.

    A key the template already sets is kept; a chain step gets neither key.
    """
    comments: list[str] = []
    s = shape.steps[step]
    after = shape.explicit_after(step)
    if table.get("kind") == "wait":  # a wait runs once: only its predecessors
        if after is not None and "after" not in table:
            table["after"] = list(after)
            comments.append(f"# after: the steps of the batch before it in {s.after_support} of "
                            f"{s.n_workflows} workflows")
        return comments
    if after is not None and "after" not in table:
        table["after"] = list(after)
        comments.append(f"# after: the steps of the batch before it in {s.after_support} of "
                        f"{s.n_workflows} workflows" + (" (a root: parallel with the first step)"
                                                        if not after else ""))
    if s.fan_out and "count" not in table:
        table["count"] = s.count_value()
        seen = ", ".join(f"{c} in {k}" for c, k in s.counts.items())
        comments.append(f"# count: parallel instances per workflow ({seen} of {s.n_workflows} "
                        "workflows); duration is per instance")
    if s.max_concurrency is not None and "max_concurrency" not in table:
        table["max_concurrency"] = s.max_concurrency
        comments.append(f"# max_concurrency: at most {s.peak} instances ran at once in every "
                        "workflow, fewer than its instances")
    return comments


def _failure_lines(cal: Calibration, tf: dict[str, Any], steps: list[str]) -> list[str]:
    lines: list[str] = []
    cr = cal.crashes
    tcrash = dict(tf.get("crash", {}))
    if cr is None:
        lines += ["# no attempt ran on a worker (only child workflows and waits): crashes cannot "
                  "be fitted" + ("; [failures.crash] from the template" if tcrash else
                                 "; no [failures.crash]")]
        if tcrash:
            lines += _table("failures.crash", tcrash)
        lines.append("")
        return lines + _other_failure_lines(cal, tf, steps)
    exposure = f"{cr.n_crashes} crashes in {cr.n_attempts} " + (
        "worker lives" if cr.age == "worker" else "attempts") + (
        f", {format_duration(cr.exposure_s)} of exposure")
    if cr.n_crashes == 0:
        lines += [f"# no crash in {format_duration(cr.exposure_s)} of exposure: MTBF > "
                  f"{format_duration(cr.exponential.mttf_s.low)} (95%); no [failures.crash]", ""]
    else:
        ex = cr.exponential
        lines.append(f"# crashes: {exposure}; age = "
                     + ("worker_id life" if cr.age == "worker" else "attempt running time"))
        if cr.n_inferred_excluded:
            lines.append(f"#   {cr.n_inferred_excluded} attempts with unknown times (Temporal "
                         "retries) left out of the exposure")
        lines.append(f"#   exponential: MTBF {_ci(ex.mttf_s)}, AIC {ex.aic:.1f}, "
                     f"{ex.gof.test} p = {_p(ex.gof.p_value)}")
        if cr.weibull is not None:
            w = cr.weibull.params
            lines.append(f"#   weibull: shape {w['shape'].value:.3g} [{w['shape'].low:.3g}, "
                         f"{w['shape'].high:.3g}], scale {_ci(w['scale_s'])}, mean "
                         f"{_ci(w['mttf_s'])}, AIC {cr.weibull.aic:.1f}")
            lines.append(f"#   {cr.lr_test.test}: p = {_p(cr.lr_test.p_value)}; chosen by AIC: "
                         f"{cr.chosen}")
        if cal.naive_crashes is not None:
            lines.append("#   (the naive fit that drops the censored attempts would say MTBF "
                         f"{format_duration(cal.naive_crashes.mttf_s.value)}: biased, not used)")
        for k in ("distribution", "mtbf", "shape", "scale"):
            tcrash.pop(k, None)
        table: dict[str, Any] = {"distribution": cr.chosen}
        if cr.chosen == "exponential":
            table["mtbf"] = _dur(cr.exponential.mttf_s.value)
        else:
            assert cr.weibull is not None
            table["shape"] = float(f"{cr.weibull.params['shape'].value:.6g}")
            table["scale"] = _dur(cr.weibull.params["scale_s"].value)
        if tcrash:
            lines.append("#   renew_on_restart, detection_delay, restart_time: from the template")
        else:
            lines.append("#   detection_delay and restart_time are not in the data: core defaults")
        table.update(tcrash)
        lines += _table("failures.crash", table)
        lines.append("")
    return lines + _other_failure_lines(cal, tf, steps)


def _other_failure_lines(cal: Calibration, tf: dict[str, Any], steps: list[str]) -> list[str]:
    lines: list[str] = []
    dp = cal.deploys
    tdeploy = dict(tf.get("deploy", {}))
    if dp is not None:
        lines.append(f"# deployments: {dp.n_deploys} in {format_window(dp.window, relative='seconds')}; gaps CV "
                     f"{dp.cv:.3g} (0 periodic, 1 Poisson)")
        lines.append(f"#   periodic: period {_ci(dp.period_s)}, jitter sd "
                     f"{format_duration(dp.jitter_s)}, AIC {dp.aic_periodic:.1f}")
        lines.append(f"#   poisson: mean interval {_ci(dp.mean_interval_s)}, AIC "
                     f"{dp.aic_poisson:.1f}")
        lines.append(f"#   chosen: {dp.mode}; {dp.gof.test} p = {_p(dp.gof.p_value)}")
        for k in ("mode", "every"):
            tdeploy.pop(k, None)
        every = dp.period_s.value if dp.mode == "periodic" else dp.mean_interval_s.value
        table = {"mode": dp.mode, "every": _dur(every)}
        lines.append("#   drain, restart_time: " + ("from the template" if tdeploy else
                                                     "not in the data: core defaults"))
        table.update(tdeploy)
        lines += _table("failures.deploy", table)
        lines.append("")
    else:
        kills = cal.outcome_counts.get("killed_by_deploy", 0)
        if tdeploy:
            lines.append("# deployments: no deployment list given (--deploys): from the template")
            lines += _table("failures.deploy", tdeploy)
            lines.append("")
        elif kills:
            lines += [f"# {kills} attempts were killed by deployments, but no deployment list "
                      "was given (--deploys): no [failures.deploy]", ""]

    rl = cal.rate_limits
    trl = dict(tf.get("rate_limit", {}))
    if rl is not None:
        lines.append(f"# rate limits: {rl.pooled.k} 429s in {rl.pooled.n} calls of "
                     f"{', '.join(rl.steps)}" + (f" ({rl.n_inferred} of the 429s inferred from "
                                                 "Temporal's attempt counter)" if rl.n_inferred
                                                 else ""))
        lines.append(f"#   pooled probability {rl.pooled.p.value:.4g} [{rl.pooled.p.low:.4g}, "
                     f"{rl.pooled.p.high:.4g}] (Wilson)")
        for s, pr in rl.per_step.items():
            lines.append(f"#   {s}: {pr.k}/{pr.n} = {pr.p.value:.4g} [{pr.p.low:.4g}, "
                         f"{pr.p.high:.4g}]")
        if np.isfinite(rl.gof.p_value):
            lines.append(f"#   {rl.gof.test}: X2 = {_num('{:.3g}', rl.gof.statistic)}, p = "
                         f"{_p(rl.gof.p_value)}")
        for k in ("probability", "steps"):
            trl.pop(k, None)
        kept = [s for s in rl.steps if s in steps]
        if not kept:
            return lines + ["#   none of these steps is in the scenario: no [failures.rate_limit]",
                            ""]
        table = {"probability": float(f"{rl.pooled.p.value:.6g}"), "steps": kept}
        if rl.retry_after is not None:
            ra = rl.retry_after
            lines.append(f"#   Retry-After from {ra.n} 429s: median {_ci(ra.median_s)}")
            trl.pop("retry_after", None)
            table["retry_after"] = duration_table(ra)
        elif "retry_after" in trl:
            lines.append("#   Retry-After: not in the data, from the template")
        else:
            lines.append("#   Retry-After: not in the data (core default)")
        table.update(trl)
        lines += _table("failures.rate_limit", table)
        lines.append("")
    return lines


GRAPH_KEYS: tuple[str, ...] = ("after", "count", "max_concurrency")


def graph_format_supported() -> bool:
    """True when the scenario loader reads the workflow-graph keys (a step's ``count``)."""
    from sim.model.scenario import Step

    return "count" in Step.model_fields


def uses_graph_keys(text: str) -> bool:
    """True when a scenario's steps set ``after``, ``count`` or ``max_concurrency``."""
    return any(k in step for step in tomllib.loads(text).get("steps", [])
               for k in GRAPH_KEYS if isinstance(step, dict))


def validate_scenario_text(text: str, *, file: str = "<calibrated scenario>",
                           base_dir: Path | None = None) -> Any:
    """Load the TOML text through the core's loader; returns the Scenario or raises.

    While the loader does not read the workflow-graph keys yet (:func:`graph_format_supported`),
    the steps are checked without ``after``/``count``/``max_concurrency`` (everything else is
    checked as usual) and the result is the chain of the same steps.
    """
    from sim.model.scenario import scenario_from_dict

    raw = tomllib.loads(text)
    if not graph_format_supported():
        raw["steps"] = [{k: v for k, v in step.items() if k not in GRAPH_KEYS}
                        if isinstance(step, dict) else step for step in raw.get("steps", [])]
    return scenario_from_dict(raw, file=file, base_dir=base_dir)
