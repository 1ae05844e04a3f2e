"""The grading pipeline: load -> prepare -> execute (sandbox) -> collect -> compare -> report."""
