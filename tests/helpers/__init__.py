"""Code shared by several test files (imported as ``helpers``; tests/conftest.py puts tests/ on sys.path)."""
