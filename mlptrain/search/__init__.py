"""Hyper-parameter sweeps: a grid and/or random search, repeated over seeds, run anywhere.

A sweep is a list of trials; a trial is the base config plus a few ``--set`` style overrides
(the swept parameters and ``seed``), trained by :func:`mlptrain.api.fit` into an ordinary run
directory ``<sweep>/<trial id>/``. The search itself is scikit-learn's: ``ParameterGrid`` for
``--grid``, ``ParameterSampler`` (seeded with the config's seed) for ``--random``.

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
| ``spec`` | parsing ``--grid``/``--random``/``--seeds`` and sweep files; the trial list |
| ``execute`` | running trials (here, joblib, Dask), ``results.jsonl``, ``run_sweep`` |
| ``leaderboard`` | the summary over seeds, sweep.md/json/html, the figure, best.yaml |
"""

from mlptrain.search.execute import RESULTS, SweepResult, latest_records, run_sweep, trial_metrics
from mlptrain.search.leaderboard import mean_text, params_text, summarise
from mlptrain.search.spec import (
    SweepSpec,
    Trial,
    build_spec,
    expand_trials,
    parse_distribution,
    parse_grid,
    parse_random,
    parse_shard,
    read_spec_file,
)

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
