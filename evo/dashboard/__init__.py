"""The live dashboard (`evo serve`): a read-only web view of the runs and benches under a directory.

`runs_dir` (which paths a request may name), `run_view` (a run's pages as data), `security` (token, loopback names,
headers), `app` (the FastAPI app and its pages), `server` (uvicorn, and `evo run --serve`'s child process).
"""
