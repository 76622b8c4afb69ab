"""A run directory's file names, spelled once (every part that reads or writes a run uses these)."""

from __future__ import annotations

CONFIG_FILE = "config.yaml"  # the resolved config: `mlptrain fit RUN/config.yaml` reruns it
METRICS_FILE = "metrics.jsonl"  # one JSON line per epoch
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
FIGURE_DIR = "figures"  # the report's PNGs
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.safetensors"  # what a resume needs
BEST_CHECKPOINT = "best.safetensors"  # the model the report describes
THRESHOLD_FILE = "threshold.json"  # a binary classifier's chosen decision threshold
