"""Reporting: a run directory read back as data (`run_data`, the ledger the only source), statistics (`stats`),
figures (`figures`), Markdown and HTML documents (`document`), and the reports: one run's (`run_report`) and a
benchmark's (`bench_report`), sharing what they say of one run (`facts`). Reports import matplotlib, so the
engine imports them only when one is written."""
