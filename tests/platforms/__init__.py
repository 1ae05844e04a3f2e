"""Real platforms for the tests: a Debian root file system, Docker (and later a VM) built here."""
