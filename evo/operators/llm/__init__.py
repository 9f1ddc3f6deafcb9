"""The LLM operator: the `openai` client at any OpenAI-compatible endpoint (`client`), the words sent (`prompts`),
answers turned into code (`edits`, `whole_file`), record and replay (`cassette`), and the run's notes
(`learnings`); `operator.LLMOperator` puts them together."""
