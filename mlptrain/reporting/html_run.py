"""report.html's sections about what the run was and where it went wrong: the rows it got
most confidently wrong, permutation importance, the environment, the data's fingerprint and
the full resolved config (report.json holds each; this file only lays them out)."""

from __future__ import annotations

from typing import Any

from mlptrain.reporting.page import e, table


def worst_section(report: dict[str, Any]) -> list[str]:
    rows = report.get("worst")
    if not rows:
        return []
    classifier = "probability" in rows[0]
    ids = list(rows[0].get("ids") or {})
    header = ["row", *ids, "true", "predicted", "probability" if classifier else "abs. error"]
    body = [
        [r["row"], *[r["ids"].get(k, "") for k in ids], r["true"], r["predicted"],
         r["probability"] if classifier else r["error"]]
        for r in rows
    ]  # fmt: skip
    what = "most confidently wrong" if classifier else "furthest off"
    return [
        f"<h3>The test rows predicted {what}</h3>",
        table(
            header,
            body,
            numeric_header=[True, *[False] * len(ids), not classifier, not classifier, True],
        ),  # fmt: skip
        '<p class="note">row: the row of the data as read, counting from 0.</p>',
    ]


def importance_table(report: dict[str, Any]) -> list[str]:
    entry = report.get("importance") or {}
    if not entry.get("columns"):
        return []
    return [
        "<details><summary>Permutation importance of every column</summary>",
        table(
            ["column", "encoded columns", "mean drop", "sd"],
            [[r["column"], r["encoded_columns"], r["mean"], r["std"]] for r in entry["columns"]],
            numeric_header=[False, True, True, True],
        ),
        f'<p class="note">Drop in {e(entry["metric"])} on {entry["rows"]} rows of the '
        f"{e(entry['split'])} split when the column is shuffled; mean and standard deviation "
        f"over {entry['repeats']} shuffles.</p>",
        "</details>",
    ]


def run_section(report: dict[str, Any]) -> list[str]:
    """The environment, the data fingerprint and the resolved config."""
    import yaml

    env = report.get("environment") or {}
    config = report.get("config")
    if not env and not config:
        return []
    out = ['<section id="run">', "<h2>What the run was</h2>"]
    if env:
        out.append(table(["", "value"], [[k, v] for k, v in env.items()], row_headers=True))
    fingerprint = (report.get("data") or {}).get("fingerprint") or {}
    if fingerprint:
        out += [
            "<h3>Data fingerprint (SHA-256)</h3>",
            table(
                ["part", "sha256"],
                [[k, v] for k, v in fingerprint.items()],
                row_headers=True,
                text_class="mono",
            ),  # fmt: skip
        ]
    if config:
        text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
        out += [
            "<details><summary>The resolved config (every setting the run used)</summary>",
            f"<pre>{e(text)}</pre>",
            "</details>",
        ]
    out.append("</section>")
    return out
