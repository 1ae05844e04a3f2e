"""Gradescope: the export (a zip), the commands its setup.sh and run_autograder call, their settings."""
