"""Reporter: report.md, charts and a PDF computed from a run's artifacts (docs/report.md)."""
