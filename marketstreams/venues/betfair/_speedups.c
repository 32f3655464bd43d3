/* Compiled core of the Betfair market cache: the runner state and the loop that applies a
 * market change's ``rc`` entries to it.
 *
 * ``_pycore.py`` is the reference implementation of exactly the same interface, used when this
 * extension is not built (or MARKETSTREAMS_PURE_PYTHON=1); tests apply random changes to both and
 * compare every read. Keep the two in step.
 *
 * Ladders are sorted arrays of (key, price, size) entries, ascending by key: the key is the price
 * for price ladders (atb, atl, trd, spb, spl) and the level for level ladders (batb, batl, bdatb,
 * bdatl). A change with size 0 removes the entry, so the arrays only ever hold live offers and a
 * best-n read is the first (or last) n entries. Each entry keeps the (price, size) tuple it last
 * handed out until it changes, so reading unchanged levels allocates nothing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <string.h>

typedef struct {
    double k, p, s;
    PyObject *t; /* the (p, s) tuple last handed out for this entry, or NULL */
} Entry;

typedef struct {
    Entry *e;
    Py_ssize_t n, cap;
} Ladder;

enum { ATB, ATL, TRD, SPB, SPL, BATB, BATL, BDATB, BDATL, NLADDERS };

/* how each ladder is read: 1 = highest key first */
static const int DESCENDING[NLADDERS] = {1, 0, 0, 1, 0, 0, 0, 0, 0};

typedef struct {
    PyObject_HEAD
    Ladder lad[NLADDERS];
    PyObject *ltp, *tv, *spn, *spf;
    PyObject *back_list, *lay_list; /* cached full available_to_back / _lay, or NULL */
    long long stamp;
    char full_depth; /* atb/atl seen since the last clear */
    char has_trd;    /* trd seen since the last clear */
} Core;

static PyTypeObject CoreType;

/* -- ladders ---------------------------------------------------------------------------- */

static Py_ssize_t
lad_find(const Ladder *l, double k, int *found)
{
    Py_ssize_t lo = 0, hi = l->n;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) >> 1;
        double mk = l->e[mid].k;
        if (mk < k)
            lo = mid + 1;
        else if (mk > k)
            hi = mid;
        else {
            *found = 1;
            return mid;
        }
    }
    *found = 0;
    return lo;
}

static int
lad_set(Ladder *l, double k, double p, double s)
{
    int found;
    Py_ssize_t i = lad_find(l, k, &found);
    if (s == 0.0) {
        if (found) {
            Py_CLEAR(l->e[i].t);
            memmove(l->e + i, l->e + i + 1, (size_t)(l->n - i - 1) * sizeof(Entry));
            l->n--;
        }
        return 0;
    }
    if (found) {
        if (l->e[i].p != p || l->e[i].s != s) {
            l->e[i].p = p;
            l->e[i].s = s;
            Py_CLEAR(l->e[i].t);
        }
        return 0;
    }
    if (l->n == l->cap) {
        Py_ssize_t cap = l->cap ? l->cap * 2 : 16;
        Entry *grown = PyMem_Realloc(l->e, (size_t)cap * sizeof(Entry));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        l->e = grown;
        l->cap = cap;
    }
    memmove(l->e + i + 1, l->e + i, (size_t)(l->n - i) * sizeof(Entry));
    l->e[i].k = k;
    l->e[i].p = p;
    l->e[i].s = s;
    l->e[i].t = NULL;
    l->n++;
    return 0;
}

static void
lad_empty(Ladder *l)
{
    for (Py_ssize_t i = 0; i < l->n; i++)
        Py_CLEAR(l->e[i].t);
    l->n = 0;
}

static void
lad_free(Ladder *l)
{
    lad_empty(l);
    PyMem_Free(l->e);
    l->e = NULL;
    l->n = l->cap = 0;
}

/* a JSON number (an exact int or float: no bool, no subclass, so no Python code runs) as a
 * finite double; -1 with TypeError (not a number) or ValueError (NaN, infinite, too big) */
static inline int
as_number(PyObject *o, double *out)
{
    if (PyFloat_CheckExact(o))
        *out = PyFloat_AS_DOUBLE(o);
    else if (PyLong_CheckExact(o)) {
        *out = PyLong_AsDouble(o);
        if (*out == -1.0 && PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "ladder number too large");
            return -1;
        }
    }
    else {
        PyErr_Format(PyExc_TypeError, "ladder value is %.50s, not a number", Py_TYPE(o)->tp_name);
        return -1;
    }
    if (!isfinite(*out)) {
        PyErr_SetString(PyExc_ValueError, "ladder number is not finite");
        return -1;
    }
    return 0;
}

/* apply a list of [price, size] (width 2) or [level, price, size] (width 3) entries */
static int
lad_apply(Ladder *l, PyObject *changes, int width)
{
    if (!PyList_CheckExact(changes)) {
        PyErr_Format(PyExc_TypeError, "ladder is %.50s, not a list", Py_TYPE(changes)->tp_name);
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(changes);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = PyList_GET_ITEM(changes, i);
        if (!PyList_CheckExact(e) || PyList_GET_SIZE(e) != width) {
            PyErr_Format(PyExc_ValueError, "ladder entry is not a list of %d numbers", width);
            return -1;
        }
        double a, b, c = 0.0;
        if (as_number(PyList_GET_ITEM(e, 0), &a) < 0 || as_number(PyList_GET_ITEM(e, 1), &b) < 0)
            return -1;
        if (width == 3) {
            if (as_number(PyList_GET_ITEM(e, 2), &c) < 0)
                return -1;
            if (lad_set(l, a, b, c) < 0)
                return -1;
        }
        else if (lad_set(l, a, a, b) < 0)
            return -1;
    }
    return 0;
}

/* the first n (p, s) pairs in reading order; n < 0 means all */
static PyObject *
lad_read(Ladder *l, int desc, Py_ssize_t n)
{
    if (n < 0 || n > l->n)
        n = l->n;
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        Entry *e = desc ? &l->e[l->n - 1 - i] : &l->e[i];
        if (e->t == NULL) {
            PyObject *p = PyFloat_FromDouble(e->p);
            PyObject *s = PyFloat_FromDouble(e->s);
            PyObject *t = (p && s) ? PyTuple_New(2) : NULL;
            if (t == NULL) {
                Py_XDECREF(p);
                Py_XDECREF(s);
                Py_DECREF(out);
                return NULL;
            }
            PyTuple_SET_ITEM(t, 0, p);
            PyTuple_SET_ITEM(t, 1, s);
            e->t = t;
        }
        Py_INCREF(e->t);
        PyList_SET_ITEM(out, i, e->t);
    }
    return out;
}

/* -- the runner core type ------------------------------------------------------------------ */

static void
core_forget_lists(Core *self)
{
    Py_CLEAR(self->back_list);
    Py_CLEAR(self->lay_list);
}

static void
core_clear_state(Core *self)
{
    for (int i = 0; i < NLADDERS; i++)
        lad_empty(&self->lad[i]);
    Py_INCREF(Py_None);
    Py_XSETREF(self->ltp, Py_None);
    Py_INCREF(Py_None);
    Py_XSETREF(self->tv, Py_None);
    Py_INCREF(Py_None);
    Py_XSETREF(self->spn, Py_None);
    Py_INCREF(Py_None);
    Py_XSETREF(self->spf, Py_None);
    core_forget_lists(self);
    self->full_depth = 0;
    self->has_trd = 0;
}

static PyObject *
core_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Core *self = (Core *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->stamp = -1;
    core_clear_state(self);
    return (PyObject *)self;
}

static int
core_traverse(Core *self, visitproc visit, void *arg)
{
    /* the type itself is visited by the subclass's traverse (this base type is static) */
    Py_VISIT(self->ltp);
    Py_VISIT(self->tv);
    Py_VISIT(self->spn);
    Py_VISIT(self->spf);
    Py_VISIT(self->back_list);
    Py_VISIT(self->lay_list);
    return 0;
}

static int
core_clear(Core *self)
{
    Py_CLEAR(self->ltp);
    Py_CLEAR(self->tv);
    Py_CLEAR(self->spn);
    Py_CLEAR(self->spf);
    core_forget_lists(self);
    return 0;
}

static void
core_dealloc(Core *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    core_clear(self);
    for (int i = 0; i < NLADDERS; i++)
        lad_free(&self->lad[i]);
    tp->tp_free((PyObject *)self); /* a heap subclass's type is released by its own dealloc */
}

/* back offers: full depth once seen, else the level ladder, else the display ladder */
static Ladder *
core_back_ladder(Core *self, int *desc)
{
    *desc = 0;
    if (self->full_depth) {
        *desc = 1;
        return &self->lad[ATB];
    }
    return self->lad[BATB].n ? &self->lad[BATB] : &self->lad[BDATB];
}

static Ladder *
core_lay_ladder(Core *self, int *desc)
{
    *desc = 0;
    if (self->full_depth)
        return &self->lad[ATL];
    return self->lad[BATL].n ? &self->lad[BATL] : &self->lad[BDATL];
}

static PyObject *
core_best(Core *self, PyObject *const *args, Py_ssize_t nargs, int back)
{
    Py_ssize_t n = 1;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "best_back/best_lay take at most one argument");
        return NULL;
    }
    if (nargs == 1) {
        n = PyNumber_AsSsize_t(args[0], NULL); /* clamped, as a slice would be */
        if (n == -1 && PyErr_Occurred())
            return NULL;
        if (n < 0)
            n = 0;
    }
    PyObject *cached = back ? self->back_list : self->lay_list;
    if (cached != NULL)
        return PyList_GetSlice(cached, 0, n);
    int desc;
    Ladder *l = back ? core_back_ladder(self, &desc) : core_lay_ladder(self, &desc);
    return lad_read(l, desc, n);
}

static PyObject *
core_best_back(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    return core_best(self, args, nargs, 1);
}

static PyObject *
core_best_lay(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    return core_best(self, args, nargs, 0);
}

static PyObject *
core_available(Core *self, int back)
{
    PyObject **slot = back ? &self->back_list : &self->lay_list;
    if (*slot == NULL) {
        int desc;
        Ladder *l = back ? core_back_ladder(self, &desc) : core_lay_ladder(self, &desc);
        *slot = lad_read(l, desc, -1);
        if (*slot == NULL)
            return NULL;
    }
    Py_INCREF(*slot);
    return *slot;
}

static PyObject *
core_get_back(Core *self, void *closure)
{
    return core_available(self, 1);
}

static PyObject *
core_get_lay(Core *self, void *closure)
{
    return core_available(self, 0);
}

static PyObject *
core_get_full_depth(Core *self, void *closure)
{
    return PyBool_FromLong(self->full_depth);
}

static PyObject *
core_ladder(Core *self, PyObject *arg)
{
    long kind = PyLong_AsLong(arg);
    if (kind == -1 && PyErr_Occurred())
        return NULL;
    if (kind < 0 || kind >= NLADDERS) {
        PyErr_SetString(PyExc_ValueError, "unknown ladder");
        return NULL;
    }
    return lad_read(&self->lad[kind], DESCENDING[kind], -1);
}

static PyObject *
core_traded(Core *self, PyObject *Py_UNUSED(ignored))
{
    if (!self->has_trd)
        Py_RETURN_NONE;
    double total = 0.0;
    const Ladder *l = &self->lad[TRD];
    for (Py_ssize_t i = 0; i < l->n; i++)
        total += l->e[i].s;
    return PyFloat_FromDouble(total);
}

static PyObject *
core_py_clear(Core *self, PyObject *Py_UNUSED(ignored))
{
    core_clear_state(self);
    Py_RETURN_NONE;
}

/* state: (ltp, tv, spn, spf, full_depth, has_trd, ladders) with ladders a tuple of NLADDERS
 * lists of (key, price, size) */
static PyObject *
core_state(Core *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *ladders = PyTuple_New(NLADDERS);
    if (ladders == NULL)
        return NULL;
    for (int i = 0; i < NLADDERS; i++) {
        const Ladder *l = &self->lad[i];
        PyObject *entries = PyList_New(l->n);
        if (entries == NULL) {
            Py_DECREF(ladders);
            return NULL;
        }
        PyTuple_SET_ITEM(ladders, i, entries);
        for (Py_ssize_t j = 0; j < l->n; j++) {
            PyObject *t = Py_BuildValue("(ddd)", l->e[j].k, l->e[j].p, l->e[j].s);
            if (t == NULL) {
                Py_DECREF(ladders);
                return NULL;
            }
            PyList_SET_ITEM(entries, j, t);
        }
    }
    return Py_BuildValue("(OOOOiiN)", self->ltp, self->tv, self->spn, self->spf,
                         (int)self->full_depth, (int)self->has_trd, ladders);
}

static PyObject *
core_set_state(Core *self, PyObject *state)
{
    PyObject *ltp, *tv, *spn, *spf, *ladders;
    int full_depth, has_trd;
    if (!PyArg_ParseTuple(state, "OOOOppO!", &ltp, &tv, &spn, &spf, &full_depth, &has_trd,
                          &PyTuple_Type, &ladders))
        return NULL;
    if (PyTuple_GET_SIZE(ladders) != NLADDERS) {
        PyErr_SetString(PyExc_ValueError, "runner state has the wrong number of ladders");
        return NULL;
    }
    core_clear_state(self);
    for (int i = 0; i < NLADDERS; i++) {
        PyObject *entries = PyTuple_GET_ITEM(ladders, i);
        PyObject *seq = PySequence_Fast(entries, "ladder state is not a sequence");
        if (seq == NULL)
            return NULL;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        for (Py_ssize_t j = 0; j < n; j++) {
            double k, p, s;
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, j), "ddd", &k, &p, &s) ||
                lad_set(&self->lad[i], k, p, s) < 0) {
                Py_DECREF(seq);
                return NULL;
            }
        }
        Py_DECREF(seq);
    }
    Py_INCREF(ltp);
    Py_XSETREF(self->ltp, ltp);
    Py_INCREF(tv);
    Py_XSETREF(self->tv, tv);
    Py_INCREF(spn);
    Py_XSETREF(self->spn, spn);
    Py_INCREF(spf);
    Py_XSETREF(self->spf, spf);
    self->full_depth = (char)full_depth;
    self->has_trd = (char)has_trd;
    Py_RETURN_NONE;
}

static PyMethodDef core_methods[] = {
    {"best_back", (PyCFunction)(void (*)(void))core_best_back, METH_FASTCALL,
     "The best n back offers as (price, size), highest price first."},
    {"best_lay", (PyCFunction)(void (*)(void))core_best_lay, METH_FASTCALL,
     "The best n lay offers as (price, size), lowest price first."},
    {"_ladder", (PyCFunction)core_ladder, METH_O, "One raw ladder, in its reading order."},
    {"_traded", (PyCFunction)core_traded, METH_NOARGS, "Sum of the traded ladder, or None."},
    {"_clear", (PyCFunction)core_py_clear, METH_NOARGS, "Forget every price and value."},
    {"_core_state", (PyCFunction)core_state, METH_NOARGS, "Plain-data state (for copies)."},
    {"_set_core_state", (PyCFunction)core_set_state, METH_O, "Restore _core_state()."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef core_members[] = {
    {"last_price_traded", T_OBJECT, offsetof(Core, ltp), 0, "Last traded price (ltp)."},
    {"tv", T_OBJECT, offsetof(Core, tv), 0, "The last runner tv the stream sent."},
    {"sp_near", T_OBJECT, offsetof(Core, spn), 0, "Projected SP, near (spn)."},
    {"sp_far", T_OBJECT, offsetof(Core, spf), 0, "Projected SP, far (spf)."},
    {"_stamp", T_LONGLONG, offsetof(Core, stamp), 0, "Cache message that last changed it."},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef core_getset[] = {
    {"available_to_back", (getter)core_get_back, NULL,
     "Back offers as (price, size), highest price first.", NULL},
    {"available_to_lay", (getter)core_get_lay, NULL,
     "Lay offers as (price, size), lowest price first.", NULL},
    {"full_depth", (getter)core_get_full_depth, NULL,
     "True once the stream carried atb/atl for this runner.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "marketstreams.venues.betfair._speedups.RunnerCore",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Prices and values of one runner (compiled).",
    .tp_new = core_new,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_traverse = (traverseproc)core_traverse,
    .tp_clear = (inquiry)core_clear,
    .tp_methods = core_methods,
    .tp_members = core_members,
    .tp_getset = core_getset,
};

/* -- applying rc entries ------------------------------------------------------------------- */

static PyObject *str_id, *str_hc, *str_op, *str_ct, *str_status, *str_pt, *str_img, *str_con,
    *str_tv, *str_rc, *str_market_definition, *str_publish_time, *str_conflated,
    *str_changed_runners, *str_runners, *str_add_runner, *str_traded_seen, *str_market_tv;

/* the ladder a key names, or -1 for other keys */
static inline int
ladder_of(PyObject *key)
{
    if (!PyUnicode_CheckExact(key) || !PyUnicode_IS_COMPACT_ASCII(key))
        return -1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(key);
    const char *c = (const char *)PyUnicode_1BYTE_DATA(key);
    switch (n) {
    case 3:
        if (c[0] == 'a' && c[1] == 't')
            return c[2] == 'b' ? ATB : c[2] == 'l' ? ATL : -1;
        if (c[0] == 't' && c[1] == 'r' && c[2] == 'd')
            return TRD;
        if (c[0] == 's' && c[1] == 'p')
            return c[2] == 'b' ? SPB : c[2] == 'l' ? SPL : -1;
        return -1;
    case 4:
        if (c[0] == 'b' && c[1] == 'a' && c[2] == 't')
            return c[3] == 'b' ? BATB : c[3] == 'l' ? BATL : -1;
        return -1;
    case 5:
        if (c[0] == 'b' && c[1] == 'd' && c[2] == 'a' && c[3] == 't')
            return c[4] == 'b' ? BDATB : c[4] == 'l' ? BDATL : -1;
        return -1;
    }
    return -1;
}

enum { F_LTP = 100, F_TV, F_SPN, F_SPF };

static inline int
scalar_of(PyObject *key)
{
    if (!PyUnicode_CheckExact(key) || !PyUnicode_IS_COMPACT_ASCII(key))
        return -1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(key);
    const char *c = (const char *)PyUnicode_1BYTE_DATA(key);
    if (n == 3 && c[0] == 'l' && c[1] == 't' && c[2] == 'p')
        return F_LTP;
    if (n == 2 && c[0] == 't' && c[1] == 'v')
        return F_TV;
    if (n == 3 && c[0] == 's' && c[1] == 'p' && c[2] == 'n')
        return F_SPN;
    if (n == 3 && c[0] == 's' && c[1] == 'p' && c[2] == 'f')
        return F_SPF;
    return -1;
}

/* spn/spf may come as the strings "NaN" or "Infinity" */
static PyObject *
sp_value(PyObject *x)
{
    if (PyUnicode_Check(x))
        return PyFloat_FromString(x);
    Py_INCREF(x);
    return x;
}

static int
apply_one(Core *r, PyObject *rc, int *flags)
{
    Py_ssize_t pos = 0;
    PyObject *k, *x;
    while (PyDict_Next(rc, &pos, &k, &x)) {
        int which = ladder_of(k);
        if (which >= 0) {
            switch (which) {
            case ATB:
            case ATL:
                if (PyList_CheckExact(x) && PyList_GET_SIZE(x) && !r->full_depth) {
                    r->full_depth = 1;
                    core_forget_lists(r);
                }
                if (which == ATB)
                    Py_CLEAR(r->back_list);
                else
                    Py_CLEAR(r->lay_list);
                if (lad_apply(&r->lad[which], x, 2) < 0)
                    return -1;
                break;
            case TRD:
                r->has_trd = 1;
                *flags |= 1;
                if (PyList_CheckExact(x) && PyList_GET_SIZE(x) == 0)
                    lad_empty(&r->lad[TRD]);
                else if (lad_apply(&r->lad[TRD], x, 2) < 0)
                    return -1;
                break;
            case SPB:
            case SPL:
                if (lad_apply(&r->lad[which], x, 2) < 0)
                    return -1;
                break;
            default: /* level ladders */
                if (which == BATB || which == BDATB)
                    Py_CLEAR(r->back_list);
                else
                    Py_CLEAR(r->lay_list);
                if (lad_apply(&r->lad[which], x, 3) < 0)
                    return -1;
            }
            continue;
        }
        PyObject *v;
        switch (scalar_of(k)) {
        case F_LTP:
            Py_INCREF(x);
            Py_XSETREF(r->ltp, x);
            break;
        case F_TV:
            Py_INCREF(x);
            Py_XSETREF(r->tv, x);
            break;
        case F_SPN:
            if ((v = sp_value(x)) == NULL)
                return -1;
            Py_XSETREF(r->spn, v);
            break;
        case F_SPF:
            if ((v = sp_value(x)) == NULL)
                return -1;
            Py_XSETREF(r->spf, v);
            break;
        default:
            break; /* id, hc and fields this cache does not keep */
        }
    }
    return 0;
}

static int apply_rc(PyObject *runners, PyObject *rc, long long stamp, PyObject *changed,
                    PyObject *add_runner, PyObject *book, int *flags);

/* the rc loop; add_runner may be NULL: then book._add_runner is looked up when needed */
static int
apply_rcs(PyObject *runners, PyObject *rcs, long long stamp, PyObject *changed,
          PyObject *add_runner, PyObject *book, int *flags)
{
    if (!PyList_Check(rcs)) {
        PyErr_Format(PyExc_TypeError, "rc is %.50s, not a list", Py_TYPE(rcs)->tp_name);
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(rcs); i++) {
        PyObject *rc = PyList_GET_ITEM(rcs, i);
        if (!PyDict_Check(rc)) {
            PyErr_Format(PyExc_TypeError, "runner change is %.50s, not an object",
                         Py_TYPE(rc)->tp_name);
            return -1;
        }
        Py_INCREF(rc); /* held while add_runner (Python) may run */
        int rv = apply_rc(runners, rc, stamp, changed, add_runner, book, flags);
        Py_DECREF(rc);
        if (rv < 0)
            return -1;
    }
    return 0;
}

/* one rc entry: find (or add) its runner, stamp it, apply its fields */
static int
apply_rc(PyObject *runners, PyObject *rc, long long stamp, PyObject *changed,
         PyObject *add_runner, PyObject *book, int *flags)
{
    /* every object here is owned while Python code may run (__bool__, __hash__, add_runner) */
    PyObject *sid = PyDict_GetItemWithError(rc, str_id);
    if (sid == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_KeyError, "id");
        return -1;
    }
    PyObject *hc = PyDict_GetItemWithError(rc, str_hc);
    if (hc == NULL && PyErr_Occurred())
        return -1;
    Py_INCREF(sid);
    Py_XINCREF(hc);
    PyObject *key = NULL, *r = NULL, *zero = NULL;
    int rv = -1, has_hc = 0;
    if (hc != NULL && (has_hc = PyObject_IsTrue(hc)) < 0)
        goto done;
    key = has_hc ? PyTuple_Pack(2, sid, hc) : (Py_INCREF(sid), sid);
    if (key == NULL)
        goto done;
    r = PyDict_GetItemWithError(runners, key);
    if (r != NULL)
        Py_INCREF(r);
    else {
        if (PyErr_Occurred())
            goto done;
        if (!has_hc && (zero = PyFloat_FromDouble(0.0)) == NULL)
            goto done;
        PyObject *call_args[2] = {sid, has_hc ? hc : zero};
        if (add_runner != NULL)
            r = PyObject_Vectorcall(add_runner, call_args, 2, NULL);
        else {
            PyObject *bound = PyObject_GetAttr(book, str_add_runner);
            r = bound ? PyObject_Vectorcall(bound, call_args, 2, NULL) : NULL;
            Py_XDECREF(bound);
        }
        if (r == NULL)
            goto done;
    }
    if (!PyObject_TypeCheck(r, &CoreType)) {
        PyErr_Format(PyExc_TypeError, "%.50s is not a runner (from runners or add_runner)",
                     Py_TYPE(r)->tp_name);
        goto done;
    }
    Core *core = (Core *)r;
    rv = 0;
    if (core->stamp != stamp) {
        core->stamp = stamp;
        rv = PyList_Append(changed, r);
    }
    if (rv == 0)
        rv = apply_one(core, rc, flags);
done:
    Py_XDECREF(r);
    Py_XDECREF(key);
    Py_XDECREF(zero);
    Py_XDECREF(hc);
    Py_DECREF(sid);
    return rv < 0 ? -1 : 0;
}

PyDoc_STRVAR(apply_changes_doc,
"apply_changes(runners, rcs, stamp, changed, add_runner) -> int\n\n"
"Apply a market change's runner changes. ``runners`` maps selection id (or (id, handicap))\n"
"to runner; ``add_runner(id, handicap)`` makes and registers a missing one. Runners not yet\n"
"stamped with ``stamp`` are stamped and appended to ``changed``. Returns 1 when a traded\n"
"ladder changed, else 0.");

static PyObject *
apply_changes(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "apply_changes takes 5 arguments");
        return NULL;
    }
    long long stamp = PyLong_AsLongLong(args[2]);
    if (stamp == -1 && PyErr_Occurred())
        return NULL;
    if (!PyDict_Check(args[0]) || !PyList_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "runners must be a dict and changed a list");
        return NULL;
    }
    int flags = 0;
    if (apply_rcs(args[0], args[1], stamp, args[3], args[4], NULL, &flags) < 0)
        return NULL;
    return PyLong_FromLong(flags);
}

/* 1 when d[key] is present and equals the ASCII string s, 0 when absent or different */
static int
key_is(PyObject *d, PyObject *key, const char *s, int *present)
{
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (v == NULL)
        return PyErr_Occurred() ? -1 : (*present = 0, 0);
    *present = 1;
    return PyUnicode_Check(v) && PyUnicode_CompareWithASCIIString(v, s) == 0;
}

PyDoc_STRVAR(apply_deltas_doc,
"apply_deltas(markets, m, mcs, stamp) -> list | None\n\n"
"The cache's fast path for the common message: an mcm (no status, not a SUB_IMAGE) whose\n"
"changes all name known markets and carry no definition and no image. Returns the books of\n"
"``mcs`` in order (one per entry), or None, having changed nothing, when the message needs\n"
"the full path. ``stamp`` marks changed runners, as for apply_changes.");

static PyObject *
apply_deltas(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "apply_deltas takes 4 arguments");
        return NULL;
    }
    PyObject *markets = args[0], *m = args[1], *mcs = args[2];
    long long stamp = PyLong_AsLongLong(args[3]);
    if (stamp == -1 && PyErr_Occurred())
        return NULL;
    if (!PyDict_Check(markets) || !PyDict_Check(m) || !PyList_Check(mcs))
        Py_RETURN_NONE;
    int present, is;
    if ((is = key_is(m, str_op, "mcm", &present)) < 0)
        return NULL;
    if (present && !is)
        Py_RETURN_NONE;
    if ((is = key_is(m, str_ct, "SUB_IMAGE", &present)) < 0)
        return NULL;
    if (is)
        Py_RETURN_NONE;
    int has_status = PyDict_Contains(m, str_status);
    if (has_status < 0)
        return NULL;
    if (has_status)
        Py_RETURN_NONE;
    Py_ssize_t n = PyList_GET_SIZE(mcs);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    /* first pass: decide, changing nothing */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *mc = PyList_GET_ITEM(mcs, i);
        PyObject *mid, *book, *img;
        if (!PyDict_Check(mc) || (mid = PyDict_GetItemWithError(mc, str_id)) == NULL ||
            (book = PyDict_GetItemWithError(markets, mid)) == NULL ||
            PyDict_GetItemWithError(mc, str_market_definition) != NULL)
            goto slow;
        if ((img = PyDict_GetItemWithError(mc, str_img)) != NULL) {
            int truth = PyObject_IsTrue(img);
            if (truth != 0)
                goto slow;
        }
        if (PyErr_Occurred())
            goto slow;
        Py_INCREF(book);
        PyList_SET_ITEM(out, i, book);
    }
    PyObject *pt = PyDict_GetItemWithError(m, str_pt);
    if (pt == NULL) {
        if (PyErr_Occurred())
            goto fail;
        pt = Py_None;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *mc = PyList_GET_ITEM(mcs, i), *book = PyList_GET_ITEM(out, i);
        PyObject *con = PyDict_GetItemWithError(mc, str_con);
        if (con == NULL && PyErr_Occurred())
            goto fail;
        PyObject *changed = PyList_New(0);
        if (changed == NULL)
            goto fail;
        if (PyObject_SetAttr(book, str_publish_time, pt) < 0 ||
            PyObject_SetAttr(book, str_conflated, con == Py_True ? Py_True : Py_False) < 0 ||
            PyObject_SetAttr(book, str_changed_runners, changed) < 0) {
            Py_DECREF(changed);
            goto fail;
        }
        PyObject *rcs = PyDict_GetItemWithError(mc, str_rc);
        if (rcs == NULL && PyErr_Occurred()) {
            Py_DECREF(changed);
            goto fail;
        }
        int truth = rcs == NULL ? 0 : PyObject_IsTrue(rcs); /* rc null or [] changes nothing */
        if (truth > 0) {
            int flags = 0;
            PyObject *runners = PyObject_GetAttr(book, str_runners);
            if (runners != NULL && !PyDict_Check(runners)) {
                PyErr_SetString(PyExc_TypeError, "book._runners is not a dict");
                Py_CLEAR(runners);
            }
            Py_INCREF(rcs); /* held while _add_runner (Python) may run */
            truth = runners == NULL
                        ? -1
                        : apply_rcs(runners, rcs, stamp, changed, NULL, book, &flags);
            Py_DECREF(rcs);
            Py_XDECREF(runners);
            if (truth == 0 && flags &&
                (PyObject_SetAttr(book, str_traded_seen, Py_True) < 0 ||
                 PyObject_SetAttr(book, str_market_tv, Py_None) < 0))
                truth = -1;
        }
        if (truth < 0) {
            Py_DECREF(changed);
            goto fail;
        }
        Py_DECREF(changed);
        PyObject *tv = PyDict_GetItemWithError(mc, str_tv);
        if (tv == NULL && PyErr_Occurred())
            goto fail;
        if (tv != NULL && tv != Py_None && PyObject_SetAttr(book, str_tv, tv) < 0)
            goto fail;
    }
    return out;
slow:
    /* entries [0, i) hold books; the rest are NULL, which list dealloc skips */
    Py_DECREF(out);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
fail:
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"apply_changes", (PyCFunction)(void (*)(void))apply_changes, METH_FASTCALL,
     apply_changes_doc},
    {"apply_deltas", (PyCFunction)(void (*)(void))apply_deltas, METH_FASTCALL,
     apply_deltas_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, .m_name = "marketstreams.venues.betfair._speedups",
    .m_doc = "Compiled runner state and rc loop of the Betfair market cache.", .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&CoreType) < 0)
        return NULL;
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&str_id, "id"},
        {&str_hc, "hc"},
        {&str_op, "op"},
        {&str_ct, "ct"},
        {&str_status, "status"},
        {&str_pt, "pt"},
        {&str_img, "img"},
        {&str_con, "con"},
        {&str_tv, "tv"},
        {&str_rc, "rc"},
        {&str_market_definition, "marketDefinition"},
        {&str_publish_time, "publish_time"},
        {&str_conflated, "conflated"},
        {&str_changed_runners, "changed_runners"},
        {&str_runners, "_runners"},
        {&str_add_runner, "_add_runner"},
        {&str_traded_seen, "traded_seen"},
        {&str_market_tv, "_market_tv"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if ((*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL)
            return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(m, "RunnerCore", (PyObject *)&CoreType) < 0 ||
        PyModule_AddIntConstant(m, "NLADDERS", NLADDERS) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
