"""The ``verifix`` command: typer commands, rich output and exit codes over the core."""
