"""The population as data: individuals, lineage, selection and storage (knows nothing of LLMs, torch or processes)."""
