"""The judging layer: how one case is judged, independent of which question asks.

`verdict` (the case, what a check sees, its verdict), `checks` (the checks the questions are made
of), `stats` (statistical tests for random functions), `randomness` (several calls of a random
function), `draws` (one call of a random function, judged from numbers the question supplies),
`architecture` (models compared layer by layer), `models` (Keras models judged as plain data: a
numpy forward pass, trained accuracy). `questions/` declares questions from these; nothing here
imports `questions/`, so there is no cycle to hide (tests/unit/test_imports.py). All but `models`
are pasted into every student notebook's self-check (handout/selfcheck.py `EMBEDDED`): one
implementation for the grade and the self-check, numpy only.
"""
