/*
 * SHA-256 over whole columns of messages, for the ledger's Merkle trees.
 *
 * RFC 9162 hashes every leaf as SHA-256(0x00 || entry) and every interior node as
 * SHA-256(0x01 || left || right). A Python loop over hashlib pays the interpreter's cost once per
 * hash (well under a million hashes a second); here one call hashes a whole column with the GIL
 * released, on the CPU's SHA extensions (SHA-NI) where it has them and in portable C where not.
 *
 *   digest_fixed(prefix, data, width) -> bytes   messages of `width` bytes laid end to end
 *   digest_offsets(prefix, data, offsets) -> bytes   message i is data[offsets[i]:offsets[i+1]]
 *                                                     (offsets: int64, native byte order)
 *   backend() -> "sha-ni" | "portable";  use_portable(flag) forces the portable path (for tests)
 *
 * Both return the n digests concatenated (n * 32 bytes). The algorithm is FIPS 180-4.
 *
 * A column's messages are short (a row's canonical text, two child hashes), so each hash is a
 * chain of two or three dependent block compressions: on SHA-NI the chain waits on each
 * instruction's latency, not on the CPU's throughput. Two neighbouring messages of the same
 * number of blocks are therefore compressed together, their rounds interleaved (twice the hashes
 * per second measured on 65-byte messages); long messages stream through one at a time.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define RT_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t IV[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

typedef void (*compress_fn)(uint32_t state[8], const uint8_t *blocks, size_t count);

/* -- portable C ------------------------------------------------------------------------- */

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress_portable(uint32_t state[8], const uint8_t *blocks, size_t count)
{
    uint32_t w[64];
    for (; count; count--, blocks += 64) {
        for (int t = 0; t < 16; t++) {
            const uint8_t *p = blocks + 4 * t;
            w[t] = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
        }
        for (int t = 16; t < 64; t++) {
            uint32_t s0 = ROTR(w[t - 15], 7) ^ ROTR(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint32_t s1 = ROTR(w[t - 2], 17) ^ ROTR(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
        uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
        for (int t = 0; t < 64; t++) {
            uint32_t t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + K256[t] + w[t];
            uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g; g = f; f = e; e = d + t1;
            d = c; c = b; b = a; a = t1 + t2;
        }
        state[0] += a; state[1] += b; state[2] += c; state[3] += d;
        state[4] += e; state[5] += f; state[6] += g; state[7] += h;
    }
}

/* -- x86 SHA extensions ----------------------------------------------------------------- */

#ifdef RT_X86
/* The SHA-NI instructions keep the working variables as two vectors, ABEF and CDGH. Each group
 * of four rounds adds the four round constants to four message words and runs two sha256rnds2;
 * from the fifth group on, the message words come from sha256msg1/sha256msg2 over the last four
 * groups (W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16]). */
__attribute__((target("sha,sse4.1,ssse3")))
static void compress_shani(uint32_t state[8], const uint8_t *blocks, size_t count)
{
    const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i dcba = _mm_loadu_si128((const __m128i *)&state[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)&state[4]);
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);

    for (; count; count--, blocks += 64) {
        const __m128i abef_in = abef, cdgh_in = cdgh;
        __m128i w[4];
#pragma GCC unroll 16
        for (int g = 0; g < 16; g++) {
            __m128i *slot = &w[g & 3];
            if (g < 4) {
                *slot = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 16 * g)), byteswap);
            } else {
                const __m128i older = w[(g + 1) & 3], prev2 = w[(g + 2) & 3], prev1 = w[(g + 3) & 3];
                __m128i next = _mm_sha256msg1_epu32(*slot, older);
                next = _mm_add_epi32(next, _mm_alignr_epi8(prev1, prev2, 4));
                *slot = _mm_sha256msg2_epu32(next, prev1);
            }
            __m128i message = _mm_add_epi32(*slot, _mm_loadu_si128((const __m128i *)&K256[4 * g]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, message);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(message, 0x0E));
        }
        abef = _mm_add_epi32(abef, abef_in);
        cdgh = _mm_add_epi32(cdgh, cdgh_in);
    }

    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(dchg, feba, 8));
}

/* Two independent messages of `count` blocks each, their rounds interleaved: while one message's
 * sha256rnds2 waits on its latency the other's runs. Same steps as compress_shani. */
__attribute__((target("sha,sse4.1,ssse3")))
static void compress2_shani(uint32_t state_a[8], const uint8_t *blocks_a, uint32_t state_b[8], const uint8_t *blocks_b, size_t count)
{
    const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i abef[2], cdgh[2];
    uint32_t *states[2] = {state_a, state_b};
    for (int m = 0; m < 2; m++) {
        __m128i dcba = _mm_loadu_si128((const __m128i *)&states[m][0]);
        __m128i hgfe = _mm_loadu_si128((const __m128i *)&states[m][4]);
        __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
        __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
        abef[m] = _mm_alignr_epi8(cdab, efgh, 8);
        cdgh[m] = _mm_blend_epi16(efgh, cdab, 0xF0);
    }
    for (; count; count--, blocks_a += 64, blocks_b += 64) {
        const __m128i abef_a = abef[0], cdgh_a = cdgh[0], abef_b = abef[1], cdgh_b = cdgh[1];
        __m128i wa[4], wb[4];
#pragma GCC unroll 16
        for (int g = 0; g < 16; g++) {
            __m128i *slot_a = &wa[g & 3], *slot_b = &wb[g & 3];
            if (g < 4) {
                *slot_a = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks_a + 16 * g)), byteswap);
                *slot_b = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks_b + 16 * g)), byteswap);
            } else {
                __m128i next_a = _mm_sha256msg1_epu32(*slot_a, wa[(g + 1) & 3]);
                __m128i next_b = _mm_sha256msg1_epu32(*slot_b, wb[(g + 1) & 3]);
                next_a = _mm_add_epi32(next_a, _mm_alignr_epi8(wa[(g + 3) & 3], wa[(g + 2) & 3], 4));
                next_b = _mm_add_epi32(next_b, _mm_alignr_epi8(wb[(g + 3) & 3], wb[(g + 2) & 3], 4));
                *slot_a = _mm_sha256msg2_epu32(next_a, wa[(g + 3) & 3]);
                *slot_b = _mm_sha256msg2_epu32(next_b, wb[(g + 3) & 3]);
            }
            const __m128i k = _mm_loadu_si128((const __m128i *)&K256[4 * g]);
            const __m128i message_a = _mm_add_epi32(*slot_a, k), message_b = _mm_add_epi32(*slot_b, k);
            cdgh[0] = _mm_sha256rnds2_epu32(cdgh[0], abef[0], message_a);
            cdgh[1] = _mm_sha256rnds2_epu32(cdgh[1], abef[1], message_b);
            abef[0] = _mm_sha256rnds2_epu32(abef[0], cdgh[0], _mm_shuffle_epi32(message_a, 0x0E));
            abef[1] = _mm_sha256rnds2_epu32(abef[1], cdgh[1], _mm_shuffle_epi32(message_b, 0x0E));
        }
        abef[0] = _mm_add_epi32(abef[0], abef_a);
        cdgh[0] = _mm_add_epi32(cdgh[0], cdgh_a);
        abef[1] = _mm_add_epi32(abef[1], abef_b);
        cdgh[1] = _mm_add_epi32(cdgh[1], cdgh_b);
    }
    for (int m = 0; m < 2; m++) {
        __m128i feba = _mm_shuffle_epi32(abef[m], 0x1B);
        __m128i dchg = _mm_shuffle_epi32(cdgh[m], 0xB1);
        _mm_storeu_si128((__m128i *)&states[m][0], _mm_blend_epi16(feba, dchg, 0xF0));
        _mm_storeu_si128((__m128i *)&states[m][4], _mm_alignr_epi8(dchg, feba, 8));
    }
}

static int cpu_has_shani(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3))
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (b >> 29) & 1;
}
#endif

typedef void (*compress2_fn)(uint32_t state_a[8], const uint8_t *blocks_a, uint32_t state_b[8], const uint8_t *blocks_b, size_t count);

static void compress2_portable(uint32_t state_a[8], const uint8_t *blocks_a, uint32_t state_b[8], const uint8_t *blocks_b, size_t count)
{
    compress_portable(state_a, blocks_a, count);
    compress_portable(state_b, blocks_b, count);
}

static compress_fn compress = compress_portable;
static compress_fn fastest = compress_portable;
static compress2_fn compress2 = compress2_portable;
static compress2_fn fastest2 = compress2_portable;

static void put_digest(const uint32_t state[8], uint8_t out[32])
{
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(state[i] >> 24);
        out[4 * i + 1] = (uint8_t)(state[i] >> 16);
        out[4 * i + 2] = (uint8_t)(state[i] >> 8);
        out[4 * i + 3] = (uint8_t)state[i];
    }
}

/* -- one message: prefix || body, padded ------------------------------------------------ */

static void digest_one(const uint8_t *prefix, size_t prefix_len, const uint8_t *body, size_t len, uint8_t out[32])
{
    uint32_t state[8];
    uint8_t block[128];
    const uint64_t bits = (uint64_t)(prefix_len + len) * 8;
    memcpy(state, IV, sizeof state);

    size_t used = prefix_len;
    memcpy(block, prefix, prefix_len);
    size_t take = len < 64 - used ? len : 64 - used;
    memcpy(block + used, body, take);
    used += take;
    body += take;
    len -= take;
    if (used == 64) {
        compress(state, block, 1);
        size_t whole = len / 64;
        if (whole) {
            compress(state, body, whole);
            body += whole * 64;
            len -= whole * 64;
        }
        memcpy(block, body, len);
        used = len;
    }
    block[used++] = 0x80;
    size_t end = used <= 56 ? 64 : 128;
    memset(block + used, 0, end - 8 - used);
    for (int i = 0; i < 8; i++)
        block[end - 1 - i] = (uint8_t)(bits >> (8 * i));
    compress(state, block, end / 64);
    put_digest(state, out);
}

/* -- a column of messages: neighbours of equal length in blocks hashed two at a time ---- */

#define SHORT_BLOCKS 4
/* Messages of up to this many blocks (247 bytes with the prefix) are padded into a buffer and
 * paired; longer ones are streamed by digest_one. */

typedef struct {
    const uint8_t *base;
    const int64_t *offsets; /* message i is base[offsets[i]:offsets[i+1]]; NULL: fixed width */
    size_t width;
} column_t;

static inline void message_at(const column_t *column, size_t i, const uint8_t **body, size_t *len)
{
    if (column->offsets) {
        *body = column->base + column->offsets[i];
        *len = (size_t)(column->offsets[i + 1] - column->offsets[i]);
    } else {
        *body = column->base + i * column->width;
        *len = column->width;
    }
}

/* prefix || body padded into whole blocks in `out`; returns the number of blocks, or 0 when the
 * message needs more than SHORT_BLOCKS. */
static size_t pad_short(const uint8_t *prefix, size_t prefix_len, const uint8_t *body, size_t len, uint8_t *out)
{
    const size_t total = prefix_len + len;
    const size_t blocks = (total + 72) / 64; /* the 0x80 byte and the 8-byte length included */
    if (blocks > SHORT_BLOCKS)
        return 0;
    memcpy(out, prefix, prefix_len);
    memcpy(out + prefix_len, body, len);
    memset(out + total, 0, blocks * 64 - total);
    out[total] = 0x80;
    const uint64_t bits = (uint64_t)total * 8;
    for (int i = 0; i < 8; i++)
        out[blocks * 64 - 1 - i] = (uint8_t)(bits >> (8 * i));
    return blocks;
}

static void digest_column(const uint8_t *prefix, size_t prefix_len, const column_t *column, size_t n, uint8_t *out)
{
    uint8_t buffers[2][64 * SHORT_BLOCKS];
    size_t held = 0; /* blocks of message i already padded in buffers[0] (0: none) */
    for (size_t i = 0; i < n;) {
        const uint8_t *body;
        size_t len;
        if (!held) {
            message_at(column, i, &body, &len);
            held = pad_short(prefix, prefix_len, body, len, buffers[0]);
            if (!held) {
                digest_one(prefix, prefix_len, body, len, out + 32 * i);
                i++;
                continue;
            }
        }
        uint32_t state_a[8], state_b[8];
        memcpy(state_a, IV, sizeof state_a);
        size_t next = 0;
        if (i + 1 < n) {
            message_at(column, i + 1, &body, &len);
            next = pad_short(prefix, prefix_len, body, len, buffers[1]);
        }
        if (next == held) {
            memcpy(state_b, IV, sizeof state_b);
            compress2(state_a, buffers[0], state_b, buffers[1], held);
            put_digest(state_a, out + 32 * i);
            put_digest(state_b, out + 32 * (i + 1));
            i += 2;
            held = 0;
            continue;
        }
        compress(state_a, buffers[0], held);
        put_digest(state_a, out + 32 * i);
        i++;
        if (next) { /* message i (was i + 1) is padded already */
            memcpy(buffers[0], buffers[1], 64 * next);
            held = next;
        } else {
            held = 0; /* a long message (or none): the next round takes it alone */
        }
    }
}

/* -- Python ---------------------------------------------------------------------------- */

static PyObject *digest_fixed(PyObject *self, PyObject *args)
{
    Py_buffer prefix, data;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "y*y*n", &prefix, &data, &width))
        return NULL;
    PyObject *result = NULL;
    if (width <= 0 || data.len % width) {
        PyErr_SetString(PyExc_ValueError, "the data is not a whole number of messages of that width");
        goto done;
    }
    Py_ssize_t n = data.len / width;
    if (prefix.len > 63) {
        PyErr_SetString(PyExc_ValueError, "a prefix is at most 63 bytes");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, n * 32);
    if (!result)
        goto done;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    const column_t column = {(const uint8_t *)data.buf, NULL, (size_t)width};
    Py_BEGIN_ALLOW_THREADS
    digest_column(prefix.buf, (size_t)prefix.len, &column, (size_t)n, out);
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&data);
    return result;
}

static PyObject *digest_offsets(PyObject *self, PyObject *args)
{
    Py_buffer prefix, data, offsets;
    if (!PyArg_ParseTuple(args, "y*y*y*", &prefix, &data, &offsets))
        return NULL;
    PyObject *result = NULL;
    if (prefix.len > 63) {
        PyErr_SetString(PyExc_ValueError, "a prefix is at most 63 bytes");
        goto done;
    }
    if (offsets.len % 8 || offsets.len < 8) {
        PyErr_SetString(PyExc_ValueError, "offsets are n + 1 int64 values");
        goto done;
    }
    const int64_t *at = (const int64_t *)offsets.buf;
    Py_ssize_t n = offsets.len / 8 - 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (at[i] < 0 || at[i + 1] < at[i] || at[i + 1] > data.len) {
            PyErr_Format(PyExc_ValueError, "offset %zd is outside the data", i);
            goto done;
        }
    }
    result = PyBytes_FromStringAndSize(NULL, n * 32);
    if (!result)
        goto done;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    const column_t column = {(const uint8_t *)data.buf, at, 0};
    Py_BEGIN_ALLOW_THREADS
    digest_column(prefix.buf, (size_t)prefix.len, &column, (size_t)n, out);
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    return result;
}

static PyObject *backend(PyObject *self, PyObject *unused)
{
    return PyUnicode_FromString(compress == compress_portable ? "portable" : "sha-ni");
}

static PyObject *use_portable(PyObject *self, PyObject *flag)
{
    int portable = PyObject_IsTrue(flag);
    if (portable < 0)
        return NULL;
    compress = portable ? compress_portable : fastest;
    compress2 = portable ? compress2_portable : fastest2;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"digest_fixed", digest_fixed, METH_VARARGS, "SHA-256(prefix || message) of each `width`-byte message of data."},
    {"digest_offsets", digest_offsets, METH_VARARGS, "SHA-256(prefix || data[offsets[i]:offsets[i+1]]) for each i."},
    {"backend", backend, METH_NOARGS, "Which compression function is in use: 'sha-ni' or 'portable'."},
    {"use_portable", use_portable, METH_O, "Force (True) or release (False) the portable C path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sha256", "Column-wide SHA-256 for Merkle trees.", -1, methods};

PyMODINIT_FUNC PyInit__sha256(void)
{
#ifdef RT_X86
    if (cpu_has_shani()) {
        fastest = compress_shani;
        fastest2 = compress2_shani;
    }
#endif
    compress = fastest;
    compress2 = fastest2;
    return PyModule_Create(&module);
}
