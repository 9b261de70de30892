"""Build of the one compiled module; everything else is declared in pyproject.toml.

``labelwise.scores._native`` (src/labelwise/scores/_native.c) is the score driver's
mean-and-check pass. It is optional: where it does not build (no C compiler, another
compiler's flags), installation goes on without it and the driver's torch path is used, which
gives the same scores and errors, 1.5-1.8x slower on the mean-based scores
(``labelwise.scores.native_available()`` tells which path runs).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "labelwise.scores._native",
            sources=["src/labelwise/scores/_native.c"],
            # Let the compiler reorder float32 sums so that it vectorises them; never assume
            # finite values (-ffast-math would), so that NaN comparisons keep their meaning.
            extra_compile_args=["-O3", "-fassociative-math", "-fno-signed-zeros", "-fno-trapping-math"],
            optional=True,
        )
    ]
)
