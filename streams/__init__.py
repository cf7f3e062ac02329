"""shopstream stream processing: settings, the Faust app and its agents, the CLI."""
