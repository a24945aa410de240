/* Statistics of a contiguous block of float32 or float64 values in one pass over memory: the
   counts of NaN, +inf, -inf and zeros, the min and max of the finite values, and the sum and the
   sum of squares of (finite value - shift). Used by autodiff_magics.tensors.float_stats; the
   package works without it (several NumPy/torch passes per cache-sized chunk instead).

   Written with GCC/Clang vector extensions, one copy per vector width: 16 bytes (SSE2, NEON),
   32 (AVX2) and 64 (AVX-512) on x86, picked at run time by what the CPU supports. Within a block
   of BLOCK elements each lane sums in the data's own precision; blocks are added in double. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct { double s, q, mn, mx; long long nan, pinf, ninf, zeros; } stats_t;

/* elements per block: each lane sums 1024 / lanes values: 64 (float32, AVX-512) to 512 (float64, 16 bytes) in
   the data's own precision before the block's lanes are added in double */
#define BLOCK 1024

/* loading LANES values at p into the vector v (of float T): as stored, or widened from 16 bits */
#define LOAD_SAME(v, p, S, VT, VI, BYTES) memcpy(&v, p, sizeof v)
#define LOAD_BF16(v, p, S, VT, VI, BYTES)                                                     \
    do {                                                                                      \
        typedef uint16_t VH __attribute__((vector_size(BYTES / 2)));                          \
        VH h;                                                                                 \
        memcpy(&h, p, sizeof h);                                                              \
        v = (VT)(__builtin_convertvector(h, VI) << 16);                                       \
    } while (0)
#define LOAD_F16(v, p, S, VT, VI, BYTES)                                                      \
    do {                                                                                      \
        typedef S VH __attribute__((vector_size(BYTES / 2)));                                 \
        VH h;                                                                                 \
        memcpy(&h, p, sizeof h);                                                              \
        v = __builtin_convertvector(h, VT);                                                   \
    } while (0)
/* one value at p as a T */
#define ONE_SAME(p, S, T) ((T)*(p))
#define ONE_F16(p, S, T) ((T)*(p))
static inline float one_bf16(const uint16_t *p)
{
    uint32_t bits = (uint32_t)*p << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
#define ONE_BF16(p, S, T) one_bf16(p)

/* NAME(x, n, shift, r): the statistics of n values of storage type S at x, computed in T (float
   or double; IT the integer of its size) with vectors of BYTES bytes */
#define KERNEL(NAME, S, T, IT, BYTES, ATTR, LOAD, ONE)                                        \
ATTR static void NAME(const void *data, long long n, double shift_, stats_t *r)               \
{                                                                                             \
    const T shift = (T)shift_;                                                                \
    typedef T VT __attribute__((vector_size(BYTES)));                                         \
    typedef IT VI __attribute__((vector_size(BYTES)));                                        \
    enum { LANES = BYTES / sizeof(T) };                                                       \
    const S *x = (const S *)data;                                                             \
    const T inf = (T)INFINITY;                                                                \
    VT vinf, vninf, vshift, zero = {0};                                                       \
    for (int k = 0; k < LANES; k++) { vinf[k] = inf; vninf[k] = -inf; vshift[k] = shift; }     \
    VT mn = vinf, mx = vninf;                                                                 \
    double s = 0, q = 0;                                                                      \
    long long cnan = 0, cpinf = 0, cninf = 0, czero = 0, i = 0;                               \
    while (n - i >= LANES) {                                                                  \
        long long end = n - i > BLOCK ? i + BLOCK : n - (n - i) % LANES;                       \
        VT bs = zero, bq = zero;                                                              \
        VI knan = {0}, kp = {0}, kn = {0}, kz = {0};                                          \
        for (; i < end; i += LANES) {                                                         \
            VT v;                                                                             \
            LOAD(v, x + i, S, VT, VI, BYTES);                                                 \
            VI isnan_ = v != v, isp = v == vinf, isn = v == vninf, isz = v == zero;           \
            VI fin = ~(isnan_ | isp | isn);                                                   \
            knan -= isnan_; kp -= isp; kn -= isn; kz -= isz;                                  \
            VT w = (VT)((VI)(v - vshift) & fin);                                              \
            bs += w;                                                                          \
            bq += w * w;                                                                      \
            VT lo = (VT)(((VI)v & fin) | ((VI)vinf & ~fin));                                  \
            VT hi = (VT)(((VI)v & fin) | ((VI)vninf & ~fin));                                 \
            VI lt = lo < mn, gt = hi > mx;                                                    \
            mn = (VT)(((VI)lo & lt) | ((VI)mn & ~lt));                                        \
            mx = (VT)(((VI)hi & gt) | ((VI)mx & ~gt));                                        \
        }                                                                                     \
        for (int k = 0; k < LANES; k++) {                                                     \
            s += bs[k]; q += bq[k];                                                           \
            cnan += knan[k]; cpinf += kp[k]; cninf += kn[k]; czero += kz[k];                  \
        }                                                                                     \
    }                                                                                         \
    T smn = inf, smx = -inf;                                                                  \
    for (int k = 0; k < LANES; k++) {                                                         \
        if (mn[k] < smn) smn = mn[k];                                                         \
        if (mx[k] > smx) smx = mx[k];                                                         \
    }                                                                                         \
    for (; i < n; i++) {                                                                      \
        T v = ONE(x + i, S, T);                                                               \
        if (v != v) { cnan++; continue; }                                                     \
        if (v == inf) { cpinf++; continue; }                                                  \
        if (v == -inf) { cninf++; continue; }                                                 \
        if (v == 0) czero++;                                                                  \
        T d = v - shift;                                                                      \
        s += d; q += d * d;                                                                   \
        if (v < smn) smn = v;                                                                 \
        if (v > smx) smx = v;                                                                 \
    }                                                                                         \
    r->s = s; r->q = q; r->mn = smn; r->mx = smx;                                             \
    r->nan = cnan; r->pinf = cpinf; r->ninf = cninf; r->zeros = czero;                        \
}

#define ALL_KERNELS(W, ATTR)                                                                  \
    KERNEL(f32_##W, float, float, int32_t, W, ATTR, LOAD_SAME, ONE_SAME)                      \
    KERNEL(f64_##W, double, double, int64_t, W, ATTR, LOAD_SAME, ONE_SAME)                    \
    KERNEL(bf16_##W, uint16_t, float, int32_t, W, ATTR, LOAD_BF16, ONE_BF16)                  \
    F16_KERNEL(W, ATTR)
#ifdef __FLT16_MAX__ /* the compiler has _Float16 (GCC 12+, Clang 15+ on x86; Arm) */
#define HAVE_F16 1
#define F16_KERNEL(W, ATTR) KERNEL(f16_##W, _Float16, float, int32_t, W, ATTR, LOAD_F16, ONE_F16)
#else
#define F16_KERNEL(W, ATTR)
#endif

typedef void (*kernel_fn)(const void *, long long, double, stats_t *);
typedef struct { kernel_fn f32, f64, bf16, f16; } kernels_t;

ALL_KERNELS(16, )
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define X86_DISPATCH 1
ALL_KERNELS(32, __attribute__((target("avx2,fma,f16c"))))
ALL_KERNELS(64, __attribute__((target("avx512f"))))
#endif

static int best = 16; /* the widest vector this CPU runs, in bytes */

#ifdef HAVE_F16
#define F16(W) f16_##W
#else
#define F16(W) NULL
#endif

static int pick(int width, kernels_t *k)
{
    if (width == 0)
        width = best;
    if (width > best)
        return 0;
    switch (width) {
    case 16: *k = (kernels_t){f32_16, f64_16, bf16_16, F16(16)}; return 1;
#ifdef X86_DISPATCH
    case 32: *k = (kernels_t){f32_32, f64_32, bf16_32, F16(32)}; return 1;
    case 64: *k = (kernels_t){f32_64, f64_64, bf16_64, F16(64)}; return 1;
#endif
    }
    return 0;
}

static kernels_t chosen;

static PyObject *block_stats(PyObject *self, PyObject *args)
{
    unsigned long long address;
    long long n;
    int kind, width = 0;
    double shift;
    (void)self;
    if (!PyArg_ParseTuple(args, "KLCd|i", &address, &n, &kind, &shift, &width))
        return NULL;
    kernels_t k = chosen;
    if (width != 0 && !pick(width, &k)) {
        PyErr_Format(PyExc_ValueError, "no %d-byte vectors on this CPU or build", width);
        return NULL;
    }
    kernel_fn f = kind == 'f' ? k.f32 : kind == 'd' ? k.f64 : kind == 'b' ? k.bf16 : kind == 'e' ? k.f16 : NULL;
    if (n < 0 || f == NULL) {
        PyErr_SetString(PyExc_ValueError, "block_stats needs n >= 0 and a kind this build has: 'f' "
                                          "(float32), 'd' (float64), 'b' (bfloat16) or 'e' (float16)");
        return NULL;
    }
    stats_t r;
    /* the GIL stays held: no other Python thread can free or resize the tensor mid-read, and a
       call (at most 2^20 values from Python) takes a few milliseconds */
    f((const void *)(uintptr_t)address, n, shift, &r);
    return Py_BuildValue("LLLLdddd", r.nan, r.pinf, r.ninf, r.zeros, r.s, r.q, r.mn, r.mx);
}

static PyMethodDef methods[] = {
    {"block_stats", block_stats, METH_VARARGS,
     "block_stats(address, n, kind, shift, width=0) -> (NaN, +inf, -inf, zeros, sum, sum of squares, "
     "min, max) of n contiguous values at address, of kind 'f' (float32), 'd' (float64), 'b' "
     "(bfloat16) or 'e' (float16; where the compiler has _Float16), the 16-bit ones computed in "
     "float32; the sums are of (finite value - shift), min and max of the finite values (inf and -inf "
     "when none). width: the vector width in bytes (16, 32, 64; 0: the widest this CPU runs)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fused", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fused(void)
{
#ifdef X86_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        best = 64;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        best = 32;
#endif
    pick(0, &chosen);
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
#ifdef HAVE_F16
    const char *kinds = "fdbe";
#else
    const char *kinds = "fdb";
#endif
    if (PyModule_AddIntConstant(m, "vector_width", best) < 0 || PyModule_AddStringConstant(m, "kinds", kinds) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
