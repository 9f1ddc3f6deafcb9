"""Benchmarks of search modes: `evo bench` and `evo sweep` plans (`plan`), searches run in parallel and resumable
(`runner`), and the Optuna TPE peer (`peer_tpe`, over `tpe_space`) that reports compare evo with."""
