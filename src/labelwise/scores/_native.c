/* Compiled inner pass of the mean-based scores: the mean over K and the range check of a
 * chunk of probabilities [n, K, C] (float32, C-contiguous), in one read of the chunk.
 *
 * Why C: every torch formulation of "mean over K + every row sum" on [n, K, C] with C ~ 10
 * is compute-bound (reductions over 10-wide axes, or a [n, K*C] @ [K*C, C+K] product that
 * does 2 (C + K) flops per element; see benchmarks/bench_score_passes.py). Here each element
 * is loaded once and takes an integer OR and two additions, with C a compile-time constant
 * so that the compiler keeps the C accumulators in vector registers.
 *
 * Contract of the one public function (called only by labelwise/scores/_driver.py, which
 * checks dtype, device, contiguity and bounds before passing raw addresses):
 *
 *     mean_check_f32(x_addr, n, k, c, out_addr, lo, hi) -> int flags
 *
 * writes out[i, c] = mean_k x[i, k, c] for i < n and returns 0 if every value has a clear
 * sign bit and every row sum sum_c x[i, k, c] lies in [lo, hi]. Otherwise FLAG_SUM (2) says
 * that a row sum failed (a NaN, whatever its sign bit, or +inf anywhere makes its row sum
 * fail; no reordering of the sums can hide either, NaN and inf propagate through additions)
 * and FLAG_SIGN (1) that a sign bit was set: a negative value, -inf, or only -0.0, which is a
 * valid zero (the driver tells them apart with one min over the chunk; testing the bits is
 * what keeps this loop vectorised). Flags mean "let check_probs judge this chunk": they are
 * never an error by themselves. Supported C: 2 .. 32 (see NATIVE_MAX_C);
 * other C raise ValueError, and the driver uses its torch path for them.
 *
 * Build flags (setup.py): -O3 and reassociation of float sums (no finite-math
 * assumption, so NaN comparisons keep their meaning). The sums are those of float32
 * additions in another order than torch's: the driver's rounding slack covers both.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define NATIVE_MAX_C 32

typedef int (*mean_check_fn)(const float *, int64_t, int64_t, float *, float, float, double);

/* Up to SUM_GROUP samples are summed in float32 (the compiler keeps the C sums in vector
 * registers). Beyond that, groups of SUM_GROUP are summed in float32 and the group sums in
 * double, so that the mean of K = 10,000 samples is as accurate as torch's (a float32 running
 * sum drifted by ~1e-5); that path is ~1.5x slower, and K > 64 is rare. */
#define SUM_GROUP 64

/* Result flags (bit OR; 0 = the chunk passes): */
#define FLAG_SIGN 1    /* some value has its sign bit set: negative, or only -0.0 */
#define FLAG_SUM 2     /* some row sum is outside [lo, hi], or NaN / inf somewhere */

#define ROW_SUM_AND_CHECK(CC, row, acc)                                                       \
    do {                                                                                     \
        float s_ = 0.0f;                                                                     \
        for (int c = 0; c < CC; c++) {                                                       \
            float v = (row)[c];                                                              \
            uint32_t bits;                                                                   \
            memcpy(&bits, &v, sizeof bits);                                                  \
            or_bits |= bits;                                                                 \
            (acc)[c] += v;                                                                   \
            s_ += v;                                                                         \
        }                                                                                    \
        ok &= (s_ >= lo) & (s_ <= hi);                                                       \
    } while (0)

#define DEFINE_MEAN_CHECK(CC)                                                                \
    static int mean_check_f32_##CC(const float *x, int64_t n, int64_t k, float *out,        \
                                   float lo, float hi, double inv_k) {                       \
        uint32_t or_bits = 0;                                                                \
        int ok = 1;                                                                          \
        if (k <= SUM_GROUP) {                                                                \
            const float inv_kf = (float)inv_k;                                               \
            for (int64_t i = 0; i < n; i++) {                                                \
                float acc[CC];                                                               \
                for (int c = 0; c < CC; c++) acc[c] = 0.0f;                                  \
                const float *item = x + i * k * CC;                                          \
                for (int64_t j = 0; j < k; j++) ROW_SUM_AND_CHECK(CC, item + j * CC, acc);   \
                for (int c = 0; c < CC; c++) out[i * CC + c] = acc[c] * inv_kf;              \
            }                                                                                \
        } else {                                                                             \
            for (int64_t i = 0; i < n; i++) {                                                \
                double total[CC];                                                            \
                for (int c = 0; c < CC; c++) total[c] = 0.0;                                 \
                const float *item = x + i * k * CC;                                          \
                for (int64_t j0 = 0; j0 < k; j0 += SUM_GROUP) {                              \
                    int64_t j1 = j0 + SUM_GROUP < k ? j0 + SUM_GROUP : k;                    \
                    float acc[CC];                                                           \
                    for (int c = 0; c < CC; c++) acc[c] = 0.0f;                              \
                    for (int64_t j = j0; j < j1; j++) ROW_SUM_AND_CHECK(CC, item + j * CC, acc); \
                    for (int c = 0; c < CC; c++) total[c] += (double)acc[c];                 \
                }                                                                            \
                for (int c = 0; c < CC; c++) out[i * CC + c] = (float)(total[c] * inv_k);    \
            }                                                                                \
        }                                                                                    \
        return (ok ? 0 : FLAG_SUM) | ((or_bits & 0x80000000u) ? FLAG_SIGN : 0);              \
    }

DEFINE_MEAN_CHECK(2)
DEFINE_MEAN_CHECK(3)
DEFINE_MEAN_CHECK(4)
DEFINE_MEAN_CHECK(5)
DEFINE_MEAN_CHECK(6)
DEFINE_MEAN_CHECK(7)
DEFINE_MEAN_CHECK(8)
DEFINE_MEAN_CHECK(9)
DEFINE_MEAN_CHECK(10)
DEFINE_MEAN_CHECK(11)
DEFINE_MEAN_CHECK(12)
DEFINE_MEAN_CHECK(13)
DEFINE_MEAN_CHECK(14)
DEFINE_MEAN_CHECK(15)
DEFINE_MEAN_CHECK(16)
DEFINE_MEAN_CHECK(17)
DEFINE_MEAN_CHECK(18)
DEFINE_MEAN_CHECK(19)
DEFINE_MEAN_CHECK(20)
DEFINE_MEAN_CHECK(21)
DEFINE_MEAN_CHECK(22)
DEFINE_MEAN_CHECK(23)
DEFINE_MEAN_CHECK(24)
DEFINE_MEAN_CHECK(25)
DEFINE_MEAN_CHECK(26)
DEFINE_MEAN_CHECK(27)
DEFINE_MEAN_CHECK(28)
DEFINE_MEAN_CHECK(29)
DEFINE_MEAN_CHECK(30)
DEFINE_MEAN_CHECK(31)
DEFINE_MEAN_CHECK(32)

static const mean_check_fn MEAN_CHECK[NATIVE_MAX_C + 1] = {
    NULL,               NULL,               mean_check_f32_2,   mean_check_f32_3,
    mean_check_f32_4,   mean_check_f32_5,   mean_check_f32_6,   mean_check_f32_7,
    mean_check_f32_8,   mean_check_f32_9,   mean_check_f32_10,  mean_check_f32_11,
    mean_check_f32_12,  mean_check_f32_13,  mean_check_f32_14,  mean_check_f32_15,
    mean_check_f32_16,  mean_check_f32_17,  mean_check_f32_18,  mean_check_f32_19,
    mean_check_f32_20,  mean_check_f32_21,  mean_check_f32_22,  mean_check_f32_23,
    mean_check_f32_24,  mean_check_f32_25,  mean_check_f32_26,  mean_check_f32_27,
    mean_check_f32_28,  mean_check_f32_29,  mean_check_f32_30,  mean_check_f32_31,
    mean_check_f32_32,
};

static PyObject *py_mean_check_f32(PyObject *self, PyObject *args) {
    unsigned long long x_addr, out_addr;
    long long n, k, c;
    float lo, hi;
    (void)self;
    if (!PyArg_ParseTuple(args, "KLLLKff", &x_addr, &n, &k, &c, &out_addr, &lo, &hi)) {
        return NULL;
    }
    if (c < 2 || c > NATIVE_MAX_C || k < 1 || n < 0 || !x_addr || !out_addr) {
        PyErr_Format(PyExc_ValueError,
                     "mean_check_f32 needs 2 <= C <= %d, K >= 1, n >= 0 and non-null "
                     "addresses (got n=%lld, K=%lld, C=%lld)",
                     NATIVE_MAX_C, n, k, c);
        return NULL;
    }
    int flags;
    Py_BEGIN_ALLOW_THREADS
    flags = MEAN_CHECK[c]((const float *)(uintptr_t)x_addr, (int64_t)n, (int64_t)k,
                       (float *)(uintptr_t)out_addr, lo, hi, 1.0 / (double)k);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(flags);
}

static PyMethodDef METHODS[] = {
    {"mean_check_f32", py_mean_check_f32, METH_VARARGS,
     "mean_check_f32(x_addr, n, k, c, out_addr, lo, hi) -> int: the mean over K of a "
     "float32 [n, K, C] array into out [n, C]; returns 0, or 1 (a sign bit set) | 2 (a row "
     "sum outside [lo, hi], NaN or inf). Private to labelwise.scores._driver."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, "labelwise.scores._native",
    "Compiled mean-and-check pass of labelwise's score driver (private).", -1, METHODS,
};

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *m = PyModule_Create(&MODULE);
    if (m != NULL && (PyModule_AddIntConstant(m, "MAX_C", NATIVE_MAX_C) < 0 ||
                      PyModule_AddIntConstant(m, "FLAG_SIGN", FLAG_SIGN) < 0 ||
                      PyModule_AddIntConstant(m, "FLAG_SUM", FLAG_SUM) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
