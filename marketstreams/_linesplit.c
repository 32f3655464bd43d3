/* Compiled line splitter for replays: the lines of one decompressed chunk, one bytes object at
 * a time, without a list of them and (mostly) without allocating one object per line.
 *
 * ``Lines(head, chunk)`` iterates over the lines of ``head + chunk`` split at b"\n" (the b"\n"
 * taken off, a b"\r" left for the JSON decoder, which reads it as whitespace). The text after the
 * last b"\n" is not a line yet: once the iterator is exhausted it is ``rest`` (bytes), which the
 * caller passes as the ``head`` of the next chunk. ``count`` is the number of lines handed out.
 *
 * Reuse: a line handed out is a bytes object like any other. The iterator keeps the last few it
 * made and, when one of them is referenced by nobody else any more (its reference count is back
 * to one: the caller let it go), writes the next line into it instead of allocating a new object.
 * Nobody can see that happen: a line the caller keeps (in a list, in an exception) is never
 * written to again. Builds where that cannot be known cheaply (free-threaded CPython, PyPy,
 * versions without the bytes hash field) allocate every line. A kept line may sit in a larger
 * buffer than it needs (up to MIN_CAPACITY, or the longest line its slot held): ``sources.py``
 * uses this iterator only for the replay loop, which keeps no line, and hands out exact-size
 * lines everywhere else.
 *
 * ``sources.py`` holds the pure-Python equivalent (``chunk.split(b"\n")``), used when this
 * extension is not built or MARKETSTREAMS_PURE_PYTHON=1; the tests compare the two.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#if defined(Py_GIL_DISABLED) || defined(PYPY_VERSION) || PY_VERSION_HEX >= 0x030F0000
#define REUSE 0
#else
#define REUSE 1
#endif

#define NSLOTS 3         /* lines kept for reuse: the loop variable holds one while we make the next */
#define MIN_CAPACITY 1024

typedef struct {
    PyObject_HEAD
    PyObject *head;      /* bytes: the partial line the previous chunk ended in */
    Py_buffer view;      /* the chunk */
    int has_view;
    int head_pending;    /* head not yet joined to the first line */
    Py_ssize_t pos;      /* next unread byte of the chunk */
    Py_ssize_t count;
    PyObject *rest;      /* set once exhausted */
    PyObject *slot[NSLOTS];
    Py_ssize_t capacity[NSLOTS];
    int next_slot;
} Lines;

static void
release_view(Lines *self)
{
    if (self->has_view) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
    }
}

static void
Lines_dealloc(Lines *self)
{
    release_view(self);
    Py_XDECREF(self->head);
    Py_XDECREF(self->rest);
    for (int i = 0; i < NSLOTS; i++)
        Py_XDECREF(self->slot[i]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Lines_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"head", "chunk", NULL};
    PyObject *head, *chunk;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "SO:Lines", kwlist, &head, &chunk))
        return NULL;
    Lines *self = (Lines *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    if (PyObject_GetBuffer(chunk, &self->view, PyBUF_SIMPLE) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->has_view = 1;
    Py_INCREF(head);
    self->head = head;
    self->head_pending = PyBytes_GET_SIZE(head) > 0;
    return (PyObject *)self;
}

/* A bytes object holding a + b: a free kept one when there is one, else a new one. */
static PyObject *
make_line(Lines *self, const char *a, Py_ssize_t na, const char *b, Py_ssize_t nb)
{
    Py_ssize_t n = na + nb;
    PyObject *line = NULL;
    if (n == 0)
        return PyBytes_FromStringAndSize(NULL, 0);
#if REUSE
    int i = self->next_slot;
    for (int k = 0; k < NSLOTS; k++, i = (i + 1) % NSLOTS) {
        PyObject *kept = self->slot[i];
        if (kept != NULL && Py_REFCNT(kept) == 1 && self->capacity[i] >= n) {
            line = kept;
            break;
        }
    }
    if (line == NULL) {
        /* take the slot in turn (a line still in use there is simply forgotten by us) */
        i = self->next_slot;
        Py_ssize_t capacity = n < MIN_CAPACITY ? MIN_CAPACITY : n;
        PyObject *fresh = PyBytes_FromStringAndSize(NULL, capacity);
        if (fresh == NULL)
            return NULL;
        Py_XSETREF(self->slot[i], fresh);
        self->capacity[i] = capacity;
        line = fresh;
    }
    self->next_slot = (i + 1) % NSLOTS;
    char *out = PyBytes_AS_STRING(line);
    memcpy(out, a, na);
    if (nb)
        memcpy(out + na, b, nb);
    out[n] = '\0';
    Py_SET_SIZE(line, n);
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    ((PyBytesObject *)line)->ob_shash = -1; /* its hash, if anyone took it, is of older bytes */
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    Py_INCREF(line);
    return line;
#else
    line = PyBytes_FromStringAndSize(NULL, n);
    if (line == NULL)
        return NULL;
    memcpy(PyBytes_AS_STRING(line), a, na);
    if (nb)
        memcpy(PyBytes_AS_STRING(line) + na, b, nb);
    return line;
#endif
}

static PyObject *
Lines_next(Lines *self)
{
    if (!self->has_view)
        return NULL;
    const char *buf = (const char *)self->view.buf;
    Py_ssize_t len = self->view.len;
    const char *start = buf + self->pos;
    const char *nl = len > self->pos ? memchr(start, '\n', (size_t)(len - self->pos)) : NULL;
    const char *head = PyBytes_AS_STRING(self->head);
    Py_ssize_t nhead = self->head_pending ? PyBytes_GET_SIZE(self->head) : 0;
    if (nl == NULL) { /* the end: what is left is the start of a line the next chunk ends */
        Py_ssize_t n = len - self->pos;
        PyObject *rest;
        if (nhead == 0 && n == len && PyBytes_CheckExact(self->view.obj)) {
            rest = self->view.obj; /* a whole bytes chunk without a newline: no copy */
            Py_INCREF(rest);
        }
        else {
            rest = PyBytes_FromStringAndSize(NULL, nhead + n);
            if (rest == NULL)
                return NULL;
            if (nhead)
                memcpy(PyBytes_AS_STRING(rest), head, nhead);
            if (n)
                memcpy(PyBytes_AS_STRING(rest) + nhead, start, n);
        }
        Py_XSETREF(self->rest, rest);
        self->head_pending = 0;
        release_view(self);
        return NULL;
    }
    Py_ssize_t n = nl - start;
    PyObject *line = make_line(self, head, nhead, start, n);
    if (line == NULL)
        return NULL;
    self->head_pending = 0;
    self->pos += n + 1;
    self->count++;
    return line;
}

static PyObject *
Lines_get_rest(Lines *self, void *closure)
{
    if (self->rest == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Lines.rest is known once the lines are exhausted");
        return NULL;
    }
    Py_INCREF(self->rest);
    return self->rest;
}

static PyObject *
Lines_get_count(Lines *self, void *closure)
{
    return PyLong_FromSsize_t(self->count);
}

static PyGetSetDef Lines_getset[] = {
    {"rest", (getter)Lines_get_rest, NULL, "the partial line after the last newline", NULL},
    {"count", (getter)Lines_get_count, NULL, "lines handed out so far", NULL},
    {NULL},
};

static PyTypeObject LinesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "marketstreams._linesplit.Lines",
    .tp_doc = "Lines(head, chunk): the lines of head + chunk; rest: the partial last one",
    .tp_basicsize = sizeof(Lines),
    .tp_dealloc = (destructor)Lines_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Lines_next,
    .tp_getset = Lines_getset,
    .tp_new = Lines_new,
};

static struct PyModuleDef linesplit_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "marketstreams._linesplit",
    .m_doc = "Compiled line splitter for replays (see sources.py for the pure-Python one).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__linesplit(void)
{
    if (PyType_Ready(&LinesType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&linesplit_module);
    if (module == NULL)
        return NULL;
    Py_INCREF(&LinesType);
    if (PyModule_AddObject(module, "Lines", (PyObject *)&LinesType) < 0) {
        Py_DECREF(&LinesType);
        Py_DECREF(module);
        return NULL;
    }
    if (PyModule_AddIntConstant(module, "REUSE", REUSE) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
