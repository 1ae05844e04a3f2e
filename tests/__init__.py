"""The test suite: `scripts/test` (everything) and `scripts/test --fast` (docs/architecture.md#tests)."""

import os

# Under pytest-xdist (scripts/test runs the suite on 2 processes, on what is often a 2-core
# machine): TensorFlow, OpenMP and BLAS in each test process use one thread. Their default, a
# pool per process with a thread per core, puts the spinning pools of both processes on the
# same cores: tests/unit/test_selfcheck.py took 263 s beside the other process, 107 s alone.
# Set here, before anything imports numpy or TensorFlow; sandboxes get their own (`tf_threads`).
if "PYTEST_XDIST_WORKER" in os.environ:
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(name, "1")
