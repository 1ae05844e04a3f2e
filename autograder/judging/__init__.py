"""The judging layer: how one case is judged, independent of which question asks.

`verdict` (the case, what a check sees, its verdict), `checks` (the checks the questions are made
of), `stats` (statistical tests for random functions), `models` (Keras models judged as plain data:
architecture, a numpy forward pass, trained accuracy). `questions/` declares questions from these;
nothing here imports `questions/`, so there is no cycle to hide (tests/unit/test_imports.py).
"""
