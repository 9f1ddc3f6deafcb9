"""The `evo` command line: `main` parses and dispatches; one module per family of commands; `progress` is the live
display of a search."""
