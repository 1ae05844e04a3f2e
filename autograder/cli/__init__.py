"""The command line: `autograder ...` parsed in `parser`, run in `main`, the only place that prints and exits."""
