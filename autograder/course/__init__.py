"""Where the course is and how it is configured: `[tool.autograder]` and the instructor's overrides."""
