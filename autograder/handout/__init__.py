"""What students are handed: solutions/ -> assignments/, and the self-check embedded in each notebook."""
