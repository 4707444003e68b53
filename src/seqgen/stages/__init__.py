"""DVC stage entry points: `python -m seqgen.stages.<name> <task>`. Each one parses params and calls the library."""
