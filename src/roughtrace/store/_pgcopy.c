/*
 * PostgreSQL's binary COPY rows, written from Arrow columns in one pass (the store's bulk path).
 *
 * The numpy path in pg_binary.py lays the same bytes out column by column and joins them per
 * record; at a million outcome rows that costs about 0.7 CPU-seconds of the importing process,
 * which on a machine shared with the server is time the server does not get. Here each record
 * is written straight into one buffer, with the GIL released.
 *
 *   encode_rows(n, columns) -> bytes
 *
 * `columns` is a list of (kind, offset, validity, values, data, aux): the Arrow array's offset,
 * its validity bitmap (or None: no NULLs), its value buffer, its data buffer (text and bytes
 * only, else None) and, for decimals, precision * 256 + scale. Kinds:
 *   0 all NULL   1 text or bytes (int32 offsets)   2 int64 -> bigint   3 int32 -> integer
 *   4 date32 -> date   5 decimal128 (precision <= 18) -> numeric   6 boolean   7 float64 -> double
 * A record is its field count (int16) then, per field, its length (int32, -1 for NULL) and its
 * value, all big-endian. NUMERIC is sent with a fixed number of base-10000 digit groups for the
 * column's precision and scale, exactly as pg_binary._numeric lays it out.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { K_NULL = 0, K_BYTES, K_INT64, K_INT32, K_DATE, K_DECIMAL, K_BOOL, K_FLOAT64 };

#define PG_EPOCH_DAYS 10957
#define NUMERIC_NEG 0x4000
#define MAX_COLUMNS 1600

typedef struct {
    int kind;
    Py_ssize_t offset;
    const uint8_t *validity;
    const uint8_t *values;
    const uint8_t *data;
    Py_ssize_t values_len, data_len;
    int precision, scale, before, after;
    Py_buffer vb, vv, vd; /* held while encoding */
    int has_vb, has_vv, has_vd;
} column_t;

static inline int is_valid(const column_t *c, Py_ssize_t i)
{
    if (!c->validity)
        return 1;
    Py_ssize_t bit = c->offset + i;
    return (c->validity[bit >> 3] >> (bit & 7)) & 1;
}

static inline uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static inline uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static inline uint8_t *put64(uint8_t *p, uint64_t v)
{
    p = put32(p, (uint32_t)(v >> 32));
    return put32(p, (uint32_t)v);
}

static const int64_t POW10[19] = {
    1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL, 100000000LL, 1000000000LL,
    10000000000LL, 100000000000LL, 1000000000000LL, 10000000000000LL, 100000000000000LL,
    1000000000000000LL, 10000000000000000LL, 100000000000000000LL, 1000000000000000000LL,
};

/* The width of one non-NULL value (text and bytes: of value i). */
static inline Py_ssize_t value_width(const column_t *c, Py_ssize_t i)
{
    switch (c->kind) {
    case K_BYTES: {
        const int32_t *at = (const int32_t *)c->values + c->offset;
        return (Py_ssize_t)at[i + 1] - at[i];
    }
    case K_INT64:
    case K_FLOAT64:
        return 8;
    case K_INT32:
    case K_DATE:
        return 4;
    case K_DECIMAL:
        return 8 + 2 * (c->before + c->after);
    case K_BOOL:
        return 1;
    }
    return 0;
}

static uint8_t *put_numeric(uint8_t *p, const column_t *c, int64_t unscaled)
{
    /* Digit groups from the least significant, by constant divisors (multiplications): the
     * fraction's last group, padded on the right when the scale is not a multiple of 4, then its
     * whole groups, then the whole part's `before` groups. */
    uint16_t groups[2 * 5 + 2];
    uint64_t magnitude = unscaled < 0 ? (uint64_t)(-unscaled) : (uint64_t)unscaled;
    uint64_t whole = magnitude / (uint64_t)POW10[c->scale];
    uint64_t fraction = magnitude - whole * (uint64_t)POW10[c->scale];
    int k = c->after - 1, partial = c->scale % 4;
    if (partial) {
        groups[c->before + k--] = (uint16_t)((fraction % (uint64_t)POW10[partial]) * (uint64_t)POW10[4 - partial]);
        fraction /= (uint64_t)POW10[partial];
    }
    for (; k >= 0; k--) {
        groups[c->before + k] = (uint16_t)(fraction % 10000);
        fraction /= 10000;
    }
    for (k = c->before - 1; k >= 0; k--) {
        groups[k] = (uint16_t)(whole % 10000);
        whole /= 10000;
    }
    p = put16(p, (uint16_t)(c->before + c->after));
    p = put16(p, (uint16_t)(c->before - 1));
    p = put16(p, unscaled < 0 ? NUMERIC_NEG : 0);
    p = put16(p, (uint16_t)c->scale);
    for (int k = 0; k < c->before + c->after; k++)
        p = put16(p, groups[k]);
    return p;
}

static uint8_t *put_value(uint8_t *p, const column_t *c, Py_ssize_t i)
{
    Py_ssize_t width = value_width(c, i);
    p = put32(p, (uint32_t)width);
    switch (c->kind) {
    case K_BYTES: {
        const int32_t *at = (const int32_t *)c->values + c->offset;
        memcpy(p, c->data + at[i], (size_t)width);
        return p + width;
    }
    case K_INT64:
    case K_FLOAT64: {
        uint64_t v;
        memcpy(&v, c->values + 8 * (c->offset + i), 8);
        return put64(p, v);
    }
    case K_INT32: {
        uint32_t v;
        memcpy(&v, c->values + 4 * (c->offset + i), 4);
        return put32(p, v);
    }
    case K_DATE: {
        int32_t v;
        memcpy(&v, c->values + 4 * (c->offset + i), 4);
        return put32(p, (uint32_t)(v - PG_EPOCH_DAYS));
    }
    case K_DECIMAL: {
        int64_t low; /* the low 64 bits of the little-endian 128-bit value: all of it at precision <= 18 */
        memcpy(&low, c->values + 16 * (c->offset + i), 8);
        return put_numeric(p, c, low);
    }
    case K_BOOL: {
        Py_ssize_t bit = c->offset + i;
        *p = (c->values[bit >> 3] >> (bit & 7)) & 1;
        return p + 1;
    }
    }
    return p;
}

static int hold(PyObject *obj, Py_buffer *view, int *held, const uint8_t **at, Py_ssize_t *len)
{
    *at = NULL;
    if (len)
        *len = 0;
    if (obj == Py_None)
        return 0;
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0)
        return -1;
    *held = 1;
    *at = (const uint8_t *)view->buf;
    if (len)
        *len = view->len;
    return 0;
}

static void release(column_t *cols, Py_ssize_t m)
{
    for (Py_ssize_t j = 0; j < m; j++) {
        if (cols[j].has_vb)
            PyBuffer_Release(&cols[j].vb);
        if (cols[j].has_vv)
            PyBuffer_Release(&cols[j].vv);
        if (cols[j].has_vd)
            PyBuffer_Release(&cols[j].vd);
    }
}

/* Whether the buffers hold every value the column's kind reads for n rows from its offset. */
static int check_sizes(const column_t *c, Py_ssize_t n)
{
    Py_ssize_t last = c->offset + n;
    if (c->validity && c->vb.len * 8 < last)
        return 0;
    switch (c->kind) {
    case K_NULL:
        return 1;
    case K_BYTES: {
        if (c->values_len < 4 * (last + 1) || !c->data)
            return 0;
        const int32_t *at = (const int32_t *)c->values + c->offset;
        for (Py_ssize_t i = 0; i < n; i++)
            if (at[i] < 0 || at[i + 1] < at[i] || at[i + 1] > c->data_len)
                return 0;
        return 1;
    }
    case K_INT64:
    case K_FLOAT64:
        return c->values_len >= 8 * last;
    case K_INT32:
    case K_DATE:
        return c->values_len >= 4 * last;
    case K_DECIMAL:
        return c->values_len >= 16 * last;
    case K_BOOL:
        return c->values_len * 8 >= last;
    }
    return 0;
}

static PyObject *encode_rows(PyObject *self, PyObject *args)
{
    (void)self;
    Py_ssize_t n;
    PyObject *spec;
    if (!PyArg_ParseTuple(args, "nO!", &n, &PyList_Type, &spec))
        return NULL;
    Py_ssize_t m = PyList_GET_SIZE(spec);
    if (n < 0 || m > MAX_COLUMNS) {
        PyErr_SetString(PyExc_ValueError, "a batch has 0 or more rows and at most 1600 columns");
        return NULL;
    }
    column_t *cols = PyMem_Calloc(m ? m : 1, sizeof(column_t));
    if (!cols)
        return PyErr_NoMemory();
    PyObject *result = NULL;
    Py_ssize_t ready = 0;
    for (; ready < m; ready++) {
        column_t *c = &cols[ready];
        PyObject *validity, *values, *data;
        int aux;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(spec, ready), "inOOOi", &c->kind, &c->offset, &validity, &values, &data, &aux))
            goto done;
        if (c->kind < K_NULL || c->kind > K_FLOAT64 || c->offset < 0) {
            PyErr_Format(PyExc_ValueError, "column %zd: unknown kind or negative offset", ready);
            goto done;
        }
        if (hold(validity, &c->vb, &c->has_vb, &c->validity, NULL) < 0 ||
            hold(values, &c->vv, &c->has_vv, &c->values, &c->values_len) < 0 ||
            hold(data, &c->vd, &c->has_vd, &c->data, &c->data_len) < 0)
            goto done;
        if (c->kind == K_DECIMAL) {
            c->precision = aux >> 8;
            c->scale = aux & 0xff;
            if (c->precision < 1 || c->precision > 18 || c->scale > c->precision) {
                PyErr_Format(PyExc_ValueError, "column %zd: decimals up to 18 digits only", ready);
                goto done;
            }
            int whole_digits = c->precision - c->scale;
            c->before = whole_digits > 0 ? (whole_digits + 3) / 4 : 1;
            c->after = (c->scale + 3) / 4;
        }
        if (c->kind != K_NULL && !c->values) {
            PyErr_Format(PyExc_ValueError, "column %zd has no values", ready);
            goto done;
        }
        if (!check_sizes(c, n)) {
            PyErr_Format(PyExc_ValueError, "column %zd: its buffers are shorter than %zd rows", ready, n);
            goto done;
        }
    }
    Py_ssize_t size = 2 * n + 4 * n * m;
    for (Py_ssize_t j = 0; j < m; j++) {
        const column_t *c = &cols[j];
        if (c->kind == K_NULL || n == 0)
            continue;
        if (c->validity)
            for (Py_ssize_t i = 0; i < n; i++)
                size += is_valid(c, i) ? value_width(c, i) : 0;
        else if (c->kind == K_BYTES)
            size += ((const int32_t *)c->values)[c->offset + n] - ((const int32_t *)c->values)[c->offset];
        else
            size += n * value_width(c, 0);
    }
    result = PyBytes_FromStringAndSize(NULL, size);
    if (!result)
        goto done;
    uint8_t *p = (uint8_t *)PyBytes_AS_STRING(result);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        p = put16(p, (uint16_t)m);
        for (Py_ssize_t j = 0; j < m; j++) {
            const column_t *c = &cols[j];
            if (c->kind == K_NULL || !is_valid(c, i))
                p = put32(p, 0xffffffffu);
            else
                p = put_value(p, c, i);
        }
    }
    Py_END_ALLOW_THREADS
done:
    release(cols, ready < m ? ready + 1 : m);
    PyMem_Free(cols);
    return result;
}

static PyMethodDef methods[] = {
    {"encode_rows", encode_rows, METH_VARARGS, "PostgreSQL binary COPY rows of n records from Arrow column buffers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pgcopy", "PostgreSQL binary COPY rows from Arrow columns.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__pgcopy(void)
{
    return PyModule_Create(&module);
}
