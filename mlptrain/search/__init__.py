"""Hyper-parameter sweeps: a grid and/or random search, repeated over seeds, run anywhere.

A sweep is a list of trials; a trial is the base config plus a few ``--set`` style overrides
(the swept parameters and ``seed``), trained by :func:`mlptrain.api.fit` into an ordinary run
directory ``<sweep>/<trial id>/``. The grid and random searches are scikit-learn's:
``ParameterGrid`` for ``--grid``, ``ParameterSampler`` (seeded with the config's seed) for
``--random``; ``--search tpe`` and ``--prune`` use an Optuna study (the optional extra).

Trial ids are ``t<index>-<hash of the overrides>``: the same sweep expands to the same ids in
every process, so shards (``index % N == i``) and resumes agree without a coordinator. Each
finished or failed trial appends one JSON line to ``results.jsonl``; a rerun skips the trials
whose last line says ``completed``.

Where trials run: in this process (``jobs=1``), in joblib's loky worker processes
(``jobs>1``, BLAS threads limited so that jobs × threads ≤ cores), or on a Dask cluster
(``scheduler=...``); there the worker trains into a temporary directory and sends the run's
files back as bytes, which this process writes, so workers need not share our disk.

Everything crossing a process boundary is plain data (dicts, lists, strings, bytes).

| module | what it holds |
|---|---|
| ``spec`` | what a sweep is: parsing ``--grid``/``--random`` values; the trial list |
| ``flags`` | the SweepSpec from the flags and a sweep file, checked as a whole |
| ``execute`` | running trials (here, joblib, Dask), ``results.jsonl``, ``run_sweep`` |
| ``pruning`` | the per-trial observer that reports to a pruner and stops a pruned run |
| ``study`` | Optuna (``--search tpe``, ``--prune``, ``--storage``): ask, train, tell |
| ``study_workers`` | running a study's trials here or in local worker processes |
| ``leaderboard`` | the summary over seeds, sweep.md/json/html, the figure, best.yaml |
| ``study_figures`` | optimisation history and parameter importances of a study |
"""

from mlptrain.search.execute import RESULTS, SweepResult, latest_records, run_sweep
from mlptrain.search.flags import build_spec, read_spec_file
from mlptrain.search.leaderboard import mean_text, params_text, summarise
from mlptrain.search.spec import (
    SweepSpec,
    Trial,
    expand_trials,
    parse_distribution,
    parse_grid,
    parse_random,
    parse_shard,
)
from mlptrain.search.trial import trial_metrics

__all__ = [
    "RESULTS",
    "SweepResult",
    "SweepSpec",
    "Trial",
    "build_spec",
    "expand_trials",
    "latest_records",
    "mean_text",
    "params_text",
    "parse_distribution",
    "parse_grid",
    "parse_random",
    "parse_shard",
    "read_spec_file",
    "run_sweep",
    "summarise",
    "trial_metrics",
]
