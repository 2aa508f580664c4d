"""One owner for the cores during an analysis: the compiled kernels' threads, not BLAS's.

OpenBLAS threads spin for a while after each matrix product; on a 2-core machine they then compete with the
numba kernels' threads and the analysis ran 1.5x slower (measured on the paper store's mixtures: 6.0 s -> 3.95 s
per pair). The products here are small (resamples x ids), so BLAS gains nothing from threads.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def kernels_own_the_cores() -> Iterator[None]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
