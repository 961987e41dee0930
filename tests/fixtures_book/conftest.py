# The fixture chapter is executed by the runner tests in a kernel, never imported by pytest
# (--doctest-modules would otherwise import and run it during collection).
collect_ignore = ["chapters", "fixture_schema.py", "helpers.py", "run_cli.py"]
