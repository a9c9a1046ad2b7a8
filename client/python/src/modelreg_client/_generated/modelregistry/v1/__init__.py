"""Generated from proto/; do not edit (see generate_stubs.py)."""
