"""Reporting: metrics, report.json/md/html, figures, training diagnostics and run comparison."""
