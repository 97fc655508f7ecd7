"""AppTest tests of every page (a package, so its conftest does not shadow tests/conftest.py)."""
