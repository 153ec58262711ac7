/* One Merkle layer in C: SHA-256 of every 64-byte pair of a buffer, for beacon/state/roots.py
 * (and, the same way, the counted hashes of a shuffle round, for beacon/state/shuffle.py).
 *
 * Why: the epoch's compact committees root makes ~1.25 SHA-256 calls per validator. From Python
 * each call costs ~0.41 us (a hash object, an OpenSSL context, a copy for digest(), two bytes
 * objects) against ~0.12 us here, where one context and the digest fetched once serve the whole
 * layer. Same OpenSSL, so the same SHA-256 (with SHA-NI where the CPU has it). Optional: without
 * it (no compiler or no OpenSSL headers at install) roots.py hashes with hashlib, same roots.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/evp.h>
#include <string.h>

static EVP_MD *sha256_md; /* fetched once at import: a fetch per call would cost more than the hash */

/* hash_layer(data) -> bytes: for data of n * 64 bytes, the n SHA-256 digests of its 64-byte
 * pieces, concatenated (32 * n bytes). The GIL is released while hashing. */
static PyObject *hash_layer(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    if (buf.len % 64) {
        PyBuffer_Release(&buf);
        PyErr_Format(PyExc_ValueError, "hash_layer: %zd bytes is not a whole number of 64-byte pairs", buf.len);
        return NULL;
    }
    Py_ssize_t n = buf.len / 64;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * 32);
    if (out == NULL) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
    const unsigned char *src = (const unsigned char *)buf.buf;
    int ok = 1;
    Py_BEGIN_ALLOW_THREADS
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ok = ctx != NULL;
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        unsigned int len = 0;
        ok = EVP_DigestInit_ex2(ctx, sha256_md, NULL) && EVP_DigestUpdate(ctx, src + 64 * i, 64)
             && EVP_DigestFinal_ex(ctx, dst + 32 * i, &len) && len == 32;
    }
    EVP_MD_CTX_free(ctx);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    if (!ok) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_RuntimeError, "hash_layer: OpenSSL SHA-256 failed");
        return NULL;
    }
    return out;
}

/* hash_counted(prefix, count) -> bytes: SHA-256(prefix + k as 4 little-endian bytes) for k in
 * 0..count-1, concatenated: the random bytes of one swap-or-not round (beacon/state/shuffle.py). */
static PyObject *hash_counted(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer prefix;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "y*n", &prefix, &count))
        return NULL;
    if (count < 0 || count > 0xFFFFFFFFLL || prefix.len > 1024) {
        PyBuffer_Release(&prefix);
        PyErr_SetString(PyExc_ValueError, "hash_counted: count must fit 4 bytes and the prefix 1024 bytes");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, count * 32);
    if (out == NULL) {
        PyBuffer_Release(&prefix);
        return NULL;
    }
    unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
    unsigned char message[1024 + 4];
    memcpy(message, prefix.buf, (size_t)prefix.len);
    size_t len = (size_t)prefix.len + 4;
    int ok = 1;
    Py_BEGIN_ALLOW_THREADS
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ok = ctx != NULL;
    for (Py_ssize_t k = 0; ok && k < count; k++) {
        unsigned int digest_len = 0;
        for (int b = 0; b < 4; b++)
            message[prefix.len + b] = (unsigned char)((unsigned long long)k >> (8 * b));
        ok = EVP_DigestInit_ex2(ctx, sha256_md, NULL) && EVP_DigestUpdate(ctx, message, len)
             && EVP_DigestFinal_ex(ctx, dst + 32 * k, &digest_len) && digest_len == 32;
    }
    EVP_MD_CTX_free(ctx);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&prefix);
    if (!ok) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_RuntimeError, "hash_counted: OpenSSL SHA-256 failed");
        return NULL;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"hash_layer", hash_layer, METH_O, "SHA-256 of every 64-byte pair of a buffer, concatenated."},
    {"hash_counted", hash_counted, METH_VARARGS, "SHA-256 of prefix + k (4 bytes, little-endian), k < count."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_hashlayer", .m_doc = NULL, .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__hashlayer(void) {
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256_md == NULL) {
        PyErr_SetString(PyExc_ImportError, "_hashlayer: OpenSSL has no SHA256");
        return NULL;
    }
    return PyModule_Create(&module);
}
