"""Bad-input corpus: every case builds its bad input in ``tmp_path`` and checks that the CLI (or
the Python API) answers with one clear line, the right exit code and no traceback."""
