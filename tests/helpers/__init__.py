"""Support shared by the tests of every folder (tests/ is on sys.path, see tests/conftest.py)."""
