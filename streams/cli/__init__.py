"""``shopstream``, the console script: the parser in :mod:`streams.cli.main` and one module per
group of sub-commands. Commands parse options and call the modules that do the work."""
