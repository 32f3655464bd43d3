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
    *str_changed_runners, *str_runners, *str_add_runner, *str_traded_seen, *str_market_tv,
    *str_is_valid;

/* the ladder a key's bytes name, or -1 for other keys */
static inline int
ladder_of_bytes(const char *c, Py_ssize_t n)
{
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

/* the ladder a key names, or -1 for other keys */
static inline int
ladder_of(PyObject *key)
{
    if (!PyUnicode_CheckExact(key) || !PyUnicode_IS_COMPACT_ASCII(key))
        return -1;
    return ladder_of_bytes((const char *)PyUnicode_1BYTE_DATA(key), PyUnicode_GET_LENGTH(key));
}

enum { F_LTP = 100, F_TV, F_SPN, F_SPF };

static inline int
scalar_of_bytes(const char *c, Py_ssize_t n)
{
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

static inline int
scalar_of(PyObject *key)
{
    if (!PyUnicode_CheckExact(key) || !PyUnicode_IS_COMPACT_ASCII(key))
        return -1;
    return scalar_of_bytes((const char *)PyUnicode_1BYTE_DATA(key), PyUnicode_GET_LENGTH(key));
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

/* What a ladder key does to its runner before its entries are applied: ``count`` is the
 * number of entries (-1: the value is not a list). Both ways of applying a change (decoded
 * dicts and raw lines) go through here. Returns whether the entries are then to be applied. */
static inline int
ladder_key(Core *r, int which, Py_ssize_t count, int *flags)
{
    switch (which) {
    case ATB:
    case ATL:
        if (count > 0 && !r->full_depth) {
            r->full_depth = 1;
            core_forget_lists(r);
        }
        if (which == ATB)
            Py_CLEAR(r->back_list);
        else
            Py_CLEAR(r->lay_list);
        return 1;
    case TRD:
        r->has_trd = 1;
        *flags |= 1;
        if (count == 0) {
            lad_empty(&r->lad[TRD]);
            return 0;
        }
        return 1;
    case SPB:
    case SPL:
        return 1;
    default: /* level ladders */
        if (which == BATB || which == BDATB)
            Py_CLEAR(r->back_list);
        else
            Py_CLEAR(r->lay_list);
        return 1;
    }
}

/* a scalar field's new value (a new reference stolen here) */
static inline void
scalar_set(Core *r, int which, PyObject *v)
{
    switch (which) {
    case F_LTP:
        Py_XSETREF(r->ltp, v);
        break;
    case F_TV:
        Py_XSETREF(r->tv, v);
        break;
    case F_SPN:
        Py_XSETREF(r->spn, v);
        break;
    default:
        Py_XSETREF(r->spf, v);
    }
}

static int
apply_one(Core *r, PyObject *rc, int *flags)
{
    Py_ssize_t pos = 0;
    PyObject *k, *x;
    while (PyDict_Next(rc, &pos, &k, &x)) {
        int which = ladder_of(k);
        if (which >= 0) {
            Py_ssize_t count = PyList_CheckExact(x) ? PyList_GET_SIZE(x) : -1;
            if (ladder_key(r, which, count, flags) &&
                lad_apply(&r->lad[which], x, which >= BATB ? 3 : 2) < 0)
                return -1;
            continue;
        }
        PyObject *v;
        switch (which = scalar_of(k)) {
        case F_LTP:
        case F_TV:
            Py_INCREF(x);
            scalar_set(r, which, x);
            break;
        case F_SPN:
        case F_SPF:
            if ((v = sp_value(x)) == NULL)
                return -1;
            scalar_set(r, which, v);
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

/* the runner of (sid, hc) from ``runners``, made by add_runner (or book._add_runner when
 * add_runner is NULL) when missing, and stamped (appended to ``changed``) once per stamp: a
 * new reference, or NULL with an exception. The caller owns sid and hc (hc may be NULL). */
static Core *
runner_for(PyObject *runners, PyObject *sid, PyObject *hc, long long stamp, PyObject *changed,
           PyObject *add_runner, PyObject *book)
{
    PyObject *key = NULL, *r = NULL, *zero = NULL;
    int has_hc = 0;
    if (hc != NULL && (has_hc = PyObject_IsTrue(hc)) < 0)
        return NULL;
    key = has_hc ? PyTuple_Pack(2, sid, hc) : (Py_INCREF(sid), sid);
    if (key == NULL)
        return NULL;
    r = PyDict_GetItemWithError(runners, key);
    if (r != NULL)
        Py_INCREF(r);
    else {
        if (PyErr_Occurred())
            goto fail;
        if (!has_hc && (zero = PyFloat_FromDouble(0.0)) == NULL)
            goto fail;
        PyObject *call_args[2] = {sid, has_hc ? hc : zero};
        if (add_runner != NULL)
            r = PyObject_Vectorcall(add_runner, call_args, 2, NULL);
        else {
            PyObject *bound = PyObject_GetAttr(book, str_add_runner);
            r = bound ? PyObject_Vectorcall(bound, call_args, 2, NULL) : NULL;
            Py_XDECREF(bound);
        }
        if (r == NULL)
            goto fail;
    }
    if (!PyObject_TypeCheck(r, &CoreType)) {
        PyErr_Format(PyExc_TypeError, "%.50s is not a runner (from runners or add_runner)",
                     Py_TYPE(r)->tp_name);
        goto fail;
    }
    Core *core = (Core *)r;
    if (core->stamp != stamp) {
        core->stamp = stamp;
        if (PyList_Append(changed, r) < 0)
            goto fail;
    }
    Py_DECREF(key);
    Py_XDECREF(zero);
    return core;
fail:
    Py_XDECREF(r);
    Py_XDECREF(key);
    Py_XDECREF(zero);
    return NULL;
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
    Core *core = runner_for(runners, sid, hc, stamp, changed, add_runner, book);
    int rv = core == NULL ? -1 : apply_one(core, rc, flags);
    Py_XDECREF(core);
    Py_XDECREF(hc);
    Py_DECREF(sid);
    return rv;
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

/* -- apply_line: the fast path read straight from a line's bytes ------------------------- */

/* The common message (see apply_deltas) parsed from its bytes without making Python objects
 * for its ladders: the line is read into a small plan (ladder entries as doubles, the few
 * scalars as objects), checked as apply_deltas checks the decoded message, then applied.
 * The scanner accepts a subset of JSON (ASCII strings without escapes, numbers without an
 * exponent and of at most 15 significant digits, no duplicate keys among those read): on
 * anything else it changes nothing and returns None, and the caller decodes the line in full
 * (so the two ways give the same books, and the same errors, for every line). */

typedef struct {
    const unsigned char *p, *end;
    int depth;
} Scan;

typedef struct {
    int lad;  /* the ladder */
    int kind; /* 0: the ladder's key (a = its entry count), 1: an entry (a, b, c) */
    double a, b, c;
} Op;

typedef struct {
    PyObject *sid, *hc;  /* owned; hc may be NULL */
    PyObject *scal[4];   /* ltp, tv, spn, spf: owned, NULL when absent */
    Py_ssize_t op0, op1; /* its ops */
} RcPlan;

typedef struct {
    PyObject *book; /* owned */
    PyObject *mid;  /* owned: the market id */
    PyObject *tv;   /* owned, NULL when absent or null */
    int con;
    int image;             /* "img": true (only with an on_definition handler) */
    Py_ssize_t rc0, rc1;   /* its runner changes */
    Py_ssize_t def0, def1; /* its definition's bytes in the line (def1 == 0: none, or null) */
} McPlan;

typedef struct {
    Op *ops;
    RcPlan *rcs;
    McPlan *mcs;
    Py_ssize_t nops, capops, nrcs, caprcs, nmcs, capmcs;
    PyObject *pt; /* owned, NULL when absent */
    const unsigned char *line; /* the line read (valid while the plan is applied) */
    PyObject *on_definition;   /* borrowed: called (book, bytes) for a definition, or NULL:
                                  then a definition leaves the line to the full path */
    int busy;
} Plan;

static Plan shared_plan; /* reused line after line; a re-entrant call gets its own */
static PyObject *last_market_id; /* an ASCII str: the market id of the last change read */

static const double POW10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

static void
plan_clear(Plan *pl)
{
    for (Py_ssize_t i = 0; i < pl->nrcs; i++) {
        Py_XDECREF(pl->rcs[i].sid);
        Py_XDECREF(pl->rcs[i].hc);
        for (int j = 0; j < 4; j++)
            Py_XDECREF(pl->rcs[i].scal[j]);
    }
    for (Py_ssize_t i = 0; i < pl->nmcs; i++) {
        Py_XDECREF(pl->mcs[i].book);
        Py_XDECREF(pl->mcs[i].mid);
        Py_XDECREF(pl->mcs[i].tv);
    }
    Py_CLEAR(pl->pt);
    pl->nops = pl->nrcs = pl->nmcs = 0;
}

static void
plan_free(Plan *pl)
{
    plan_clear(pl);
    PyMem_Free(pl->ops);
    PyMem_Free(pl->rcs);
    PyMem_Free(pl->mcs);
    pl->ops = NULL;
    pl->rcs = NULL;
    pl->mcs = NULL;
    pl->capops = pl->caprcs = pl->capmcs = 0;
}

/* room for one more item in a plan array: 0, or -1 with MemoryError */
static int
grow(void **items, Py_ssize_t n, Py_ssize_t *cap, size_t size)
{
    if (n < *cap)
        return 0;
    Py_ssize_t c = *cap ? *cap * 2 : 32;
    void *bigger = PyMem_Realloc(*items, (size_t)c * size);
    if (bigger == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *items = bigger;
    *cap = c;
    return 0;
}

/* Scanner functions return 1 when they read what they expect and 0 when the line is not one
 * this fast path takes (no exception set), or -1 on an exception (memory). */

static inline void
skip_ws(Scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static inline int
take(Scan *s, unsigned char c)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

static inline int
take_word(Scan *s, const char *w, Py_ssize_t n)
{
    skip_ws(s);
    if (s->end - s->p >= n && memcmp(s->p, w, (size_t)n) == 0) {
        s->p += n;
        return 1;
    }
    return 0;
}

/* a string of printable ASCII without escapes: its bytes, quotes excluded */
static int
scan_str(Scan *s, const char **out, Py_ssize_t *n)
{
    if (!take(s, '"'))
        return 0;
    const unsigned char *start = s->p;
    while (s->p < s->end) {
        unsigned char c = *s->p;
        if (c == '"') {
            *out = (const char *)start;
            *n = s->p - start;
            s->p++;
            return 1;
        }
        if (c < 0x20 || c == '\\' || c >= 0x7f)
            return 0;
        s->p++;
    }
    return 0;
}

/* a number: -?(0|[1-9][0-9]*)(.[0-9]+)?, no exponent, as a double and, without a fraction, as
 * an integer (at most 18 digits). Up to 15 digits the double is exact: the digits make an
 * integer below 2**53 and one division by an exact power of ten rounds correctly; longer ones
 * go through Python's correctly rounded conversion. Both match orjson's full parse. */
static int
scan_num(Scan *s, double *d, long long *iv, int *is_int)
{
    skip_ws(s);
    const unsigned char *start = s->p, *p = s->p, *e = s->end;
    int neg = 0, digits = 0, frac = 0;
    long long m = 0;
    if (p < e && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= e || *p < '0' || *p > '9')
        return 0;
    if (*p == '0') {
        p++;
        if (p < e && *p >= '0' && *p <= '9')
            return 0; /* a leading zero: not JSON */
    }
    else {
        while (p < e && *p >= '0' && *p <= '9') {
            if (++digits <= 18)
                m = m * 10 + (*p - '0');
            p++;
        }
    }
    *is_int = 1;
    if (p < e && *p == '.') {
        *is_int = 0;
        p++;
        if (p >= e || *p < '0' || *p > '9')
            return 0;
        while (p < e && *p >= '0' && *p <= '9') {
            if (++digits <= 15) {
                frac++;
                m = m * 10 + (*p - '0');
            }
            p++;
        }
    }
    if (p < e && (*p == 'e' || *p == 'E'))
        return 0;
    s->p = p;
    if (*is_int) {
        if (digits > 18)
            return 0; /* beyond a long long: the full path */
        *iv = neg ? -m : m;
        *d = (double)*iv;
    }
    else if (digits <= 15) {
        *d = (double)m / POW10[frac];
        if (neg)
            *d = -*d;
    }
    else {
        char text[64];
        size_t n = (size_t)(p - start);
        if (n >= sizeof(text))
            return 0;
        memcpy(text, start, n);
        text[n] = 0;
        *d = PyOS_string_to_double(text, NULL, NULL);
        if (*d == -1.0 && PyErr_Occurred())
            return -1;
    }
    return 1;
}

/* the ints made lately (selection ids above all: the same few, line after line), reused */
#define INT_CACHE 64
static PyObject *int_cache[INT_CACHE];

static PyObject *
make_int(long long v)
{
    PyObject **slot = &int_cache[(unsigned long long)v % INT_CACHE];
    if (*slot != NULL) {
        int overflow;
        long long have = PyLong_AsLongLongAndOverflow(*slot, &overflow);
        if (have == v && !overflow)
            return Py_NewRef(*slot);
    }
    PyObject *o = PyLong_FromLongLong(v);
    if (o != NULL)
        Py_XSETREF(*slot, Py_NewRef(o));
    return o;
}

/* a number as the object orjson makes of it (int or float) */
static int
scan_num_obj(Scan *s, PyObject **out)
{
    double d;
    long long iv;
    int is_int;
    int r = scan_num(s, &d, &iv, &is_int);
    if (r <= 0)
        return r;
    *out = is_int ? make_int(iv) : PyFloat_FromDouble(d);
    return *out == NULL ? -1 : 1;
}

/* a value this path does not keep: checked, skipped */
static int
skip_value(Scan *s)
{
    skip_ws(s);
    if (s->p >= s->end)
        return 0;
    unsigned char c = *s->p;
    if (c == '"') {
        const char *x;
        Py_ssize_t n;
        return scan_str(s, &x, &n);
    }
    if (c == '{' || c == '[') {
        if (++s->depth > 32)
            return 0;
        s->p++;
        unsigned char close = c == '{' ? '}' : ']';
        if (!take(s, close)) {
            do {
                if (c == '{') {
                    const char *x;
                    Py_ssize_t n;
                    if (!scan_str(s, &x, &n) || !take(s, ':'))
                        return 0;
                }
                int r = skip_value(s);
                if (r <= 0)
                    return r;
            } while (take(s, ','));
            if (!take(s, close))
                return 0;
        }
        s->depth--;
        return 1;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        double d;
        long long iv;
        int is_int;
        return scan_num(s, &d, &iv, &is_int);
    }
    return take_word(s, "true", 4) || take_word(s, "false", 5) || take_word(s, "null", 4);
}

/* a ladder's value: a list of [a, b] (or [a, b, c]) numbers, as one key op and entry ops */
static int
scan_ladder(Scan *s, Plan *pl, int lad)
{
    int width = lad >= BATB ? 3 : 2;
    if (!take(s, '['))
        return 0;
    if (grow((void **)&pl->ops, pl->nops, &pl->capops, sizeof(Op)) < 0)
        return -1;
    Py_ssize_t key = pl->nops++, count = 0;
    pl->ops[key].lad = lad;
    pl->ops[key].kind = 0;
    if (!take(s, ']')) {
        do {
            double v[3] = {0.0, 0.0, 0.0};
            long long iv;
            int is_int;
            if (!take(s, '['))
                return 0;
            for (int i = 0; i < width; i++)
                if ((i && !take(s, ',')) || scan_num(s, &v[i], &iv, &is_int) <= 0)
                    return 0;
            if (!take(s, ']'))
                return 0;
            if (grow((void **)&pl->ops, pl->nops, &pl->capops, sizeof(Op)) < 0)
                return -1;
            Op *op = &pl->ops[pl->nops++];
            op->lad = lad;
            op->kind = 1;
            op->a = v[0];
            op->b = v[1];
            op->c = v[2];
            count++;
        } while (take(s, ','));
        if (!take(s, ']'))
            return 0;
    }
    pl->ops[key].a = (double)count;
    return 1;
}

/* one runner change object */
static int
scan_rc(Scan *s, Plan *pl)
{
    if (!take(s, '{'))
        return 0;
    if (grow((void **)&pl->rcs, pl->nrcs, &pl->caprcs, sizeof(RcPlan)) < 0)
        return -1;
    RcPlan *rc = &pl->rcs[pl->nrcs++];
    memset(rc, 0, sizeof(*rc));
    rc->op0 = pl->nops;
    unsigned seen = 0;
    if (!take(s, '}')) {
        do {
            const char *k;
            Py_ssize_t n;
            int r;
            if (!scan_str(s, &k, &n) || !take(s, ':'))
                return 0;
            int lad = ladder_of_bytes(k, n), sc;
            unsigned bit;
            if (lad >= 0) {
                bit = 1u << lad;
                if (seen & bit)
                    return 0;
                r = scan_ladder(s, pl, lad);
                rc = &pl->rcs[pl->nrcs - 1];
            }
            else if ((sc = scalar_of_bytes(k, n)) >= 0) {
                bit = 1u << (NLADDERS + sc - F_LTP);
                if (seen & bit)
                    return 0;
                const char *v;
                Py_ssize_t vn;
                skip_ws(s);
                if (take_word(s, "null", 4)) {
                    Py_INCREF(Py_None);
                    rc->scal[sc - F_LTP] = Py_None;
                    r = 1;
                }
                else if ((sc == F_SPN || sc == F_SPF) && s->p < s->end && *s->p == '"') {
                    /* "NaN", "Infinity": as sp_value reads them */
                    if (!scan_str(s, &v, &vn))
                        return 0;
                    PyObject *text = PyUnicode_FromStringAndSize(v, vn);
                    if (text == NULL)
                        return -1;
                    rc->scal[sc - F_LTP] = sp_value(text);
                    Py_DECREF(text);
                    if (rc->scal[sc - F_LTP] == NULL) {
                        if (!PyErr_ExceptionMatches(PyExc_ValueError))
                            return -1;
                        PyErr_Clear(); /* not a number: the full path says so */
                        return 0;
                    }
                    r = 1;
                }
                else
                    r = scan_num_obj(s, &rc->scal[sc - F_LTP]);
            }
            else if (n == 2 && k[0] == 'i' && k[1] == 'd') {
                bit = 1u << (NLADDERS + 4);
                if (seen & bit)
                    return 0;
                r = scan_num_obj(s, &rc->sid);
            }
            else if (n == 2 && k[0] == 'h' && k[1] == 'c') {
                bit = 1u << (NLADDERS + 5);
                if (seen & bit)
                    return 0;
                r = take_word(s, "null", 4) ? 1 : scan_num_obj(s, &rc->hc);
            }
            else {
                bit = 0;
                r = skip_value(s);
            }
            if (r <= 0)
                return r;
            seen |= bit;
        } while (take(s, ','));
        if (!take(s, '}'))
            return 0;
    }
    rc->op1 = pl->nops;
    return rc->sid != NULL; /* no id: the full path says so */
}

/* one market change object, for a market the cache knows */
static int
scan_mc(Scan *s, Plan *pl, PyObject *markets, PyObject *idle)
{
    if (!take(s, '{'))
        return 0;
    if (grow((void **)&pl->mcs, pl->nmcs, &pl->capmcs, sizeof(McPlan)) < 0)
        return -1;
    McPlan *mc = &pl->mcs[pl->nmcs++];
    memset(mc, 0, sizeof(*mc));
    mc->rc0 = mc->rc1 = pl->nrcs;
    unsigned seen = 0;
    if (!take(s, '}')) {
        do {
            const char *k;
            Py_ssize_t n;
            int r = 1;
            unsigned bit = 0;
            if (!scan_str(s, &k, &n) || !take(s, ':'))
                return 0;
            if (n == 2 && memcmp(k, "id", 2) == 0) {
                const char *v;
                Py_ssize_t vn;
                bit = 1;
                if ((seen & bit) || !scan_str(s, &v, &vn))
                    return 0;
                /* the market id, as the previous line's when it is the same (its hash kept) */
                PyObject *mid = last_market_id;
                if (mid == NULL || PyUnicode_GET_LENGTH(mid) != vn ||
                    memcmp(PyUnicode_1BYTE_DATA(mid), v, (size_t)vn) != 0) {
                    if ((mid = PyUnicode_FromStringAndSize(v, vn)) == NULL)
                        return -1;
                    Py_XSETREF(last_market_id, mid);
                }
                PyObject *book = PyDict_GetItemWithError(markets, mid);
                if (book == NULL)
                    return PyErr_Occurred() ? -1 : 0; /* a new market: the full path */
                if (idle != NULL) { /* (apply_lines: a market not idle ends the run here) */
                    int in = PyDict_Contains(idle, mid);
                    if (in <= 0)
                        return in;
                }
                Py_INCREF(book);
                mc->book = book;
                Py_INCREF(mid);
                Py_XSETREF(mc->mid, mid);
            }
            else if (n == 16 && memcmp(k, "marketDefinition", 16) == 0) {
                bit = 32;
                if ((seen & bit) || pl->on_definition == NULL)
                    return 0;
                skip_ws(s);
                Py_ssize_t start = s->p - pl->line;
                if (!take_word(s, "null", 4)) {
                    r = skip_value(s);
                    mc = &pl->mcs[pl->nmcs - 1];
                    mc->def0 = start;
                    mc->def1 = s->p - pl->line;
                }
            }
            else if (n == 3 && memcmp(k, "img", 3) == 0) {
                bit = 2;
                if (seen & bit)
                    return 0;
                if (pl->on_definition != NULL && take_word(s, "true", 4))
                    mc->image = 1;
                else if (!(take_word(s, "false", 5) || take_word(s, "null", 4)))
                    return 0;
            }
            else if (n == 3 && memcmp(k, "con", 3) == 0) {
                bit = 4;
                if (seen & bit)
                    return 0;
                if (take_word(s, "true", 4))
                    mc->con = 1;
                else
                    r = skip_value(s);
            }
            else if (n == 2 && memcmp(k, "tv", 2) == 0) {
                bit = 8;
                if (seen & bit)
                    return 0;
                if (!take_word(s, "null", 4))
                    r = scan_num_obj(s, &mc->tv);
            }
            else if (n == 2 && memcmp(k, "rc", 2) == 0) {
                bit = 16;
                if (seen & bit)
                    return 0;
                if (!take_word(s, "null", 4)) {
                    if (!take(s, '['))
                        return 0;
                    mc->rc0 = pl->nrcs;
                    if (!take(s, ']')) {
                        do {
                            r = scan_rc(s, pl);
                            if (r <= 0)
                                return r;
                        } while (take(s, ','));
                        if (!take(s, ']'))
                            return 0;
                    }
                    mc = &pl->mcs[pl->nmcs - 1];
                    mc->rc1 = pl->nrcs;
                }
            }
            else
                r = skip_value(s);
            if (r <= 0)
                return r;
            seen |= bit;
        } while (take(s, ','));
        if (!take(s, '}'))
            return 0;
    }
    return mc->book != NULL;
}

/* the whole line: 1 when it is a message for the fast path, planned in ``pl`` */
static int
scan_message(Scan *s, Plan *pl, PyObject *markets, PyObject *idle)
{
    if (!take(s, '{'))
        return 0;
    unsigned seen = 0;
    if (take(s, '}'))
        return 0;
    do {
        const char *k, *v;
        Py_ssize_t n, vn;
        int r = 1;
        unsigned bit = 0;
        if (!scan_str(s, &k, &n) || !take(s, ':'))
            return 0;
        if (n == 2 && memcmp(k, "op", 2) == 0) {
            bit = 1;
            if ((seen & bit) || !scan_str(s, &v, &vn) || vn != 3 || memcmp(v, "mcm", 3) != 0)
                return 0;
        }
        else if (n == 2 && memcmp(k, "ct", 2) == 0) {
            bit = 2;
            if ((seen & bit) || !scan_str(s, &v, &vn) || (vn == 9 && memcmp(v, "SUB_IMAGE", 9) == 0))
                return 0;
        }
        else if (n == 6 && memcmp(k, "status", 6) == 0)
            return 0;
        else if (n == 2 && memcmp(k, "pt", 2) == 0) {
            bit = 4;
            if (seen & bit)
                return 0;
            if (!take_word(s, "null", 4))
                r = scan_num_obj(s, &pl->pt);
        }
        else if (n == 2 && memcmp(k, "mc", 2) == 0) {
            bit = 8;
            if ((seen & bit) || !take(s, '[') || take(s, ']'))
                return 0; /* not a list, or empty: the full path */
            do {
                r = scan_mc(s, pl, markets, idle);
                if (r <= 0)
                    return r;
            } while (take(s, ','));
            if (!take(s, ']'))
                return 0;
        }
        else
            r = skip_value(s);
        if (r <= 0)
            return r;
        seen |= bit;
    } while (take(s, ','));
    if (!take(s, '}'))
        return 0;
    skip_ws(s);
    return s->p == s->end && (seen & 8);
}

/* apply a planned runner change to its runner (as apply_one does for a decoded one) */
static void
apply_planned(Core *r, const Plan *pl, const RcPlan *rc, int *flags)
{
    int apply = 0;
    for (Py_ssize_t i = rc->op0; i < rc->op1; i++) {
        const Op *op = &pl->ops[i];
        if (op->kind == 0)
            apply = ladder_key(r, op->lad, (Py_ssize_t)op->a, flags);
        else if (apply) {
            if (op->lad >= BATB)
                lad_set(&r->lad[op->lad], op->a, op->b, op->c);
            else
                lad_set(&r->lad[op->lad], op->a, op->a, op->b);
        }
    }
    for (int j = 0; j < 4; j++)
        if (rc->scal[j] != NULL) {
            Py_INCREF(rc->scal[j]);
            scalar_set(r, F_LTP + j, rc->scal[j]);
        }
}

/* The book attributes apply_plan writes, stored straight into their slots when the book's
 * type declares them as plain object slots (MarketBook's __slots__), else set as attributes. */
enum {
    A_PUBLISH_TIME,
    A_CONFLATED,
    A_CHANGED,
    A_RUNNERS,
    A_TRADED_SEEN,
    A_MARKET_TV,
    A_TV,
    A_IS_VALID,
    NATTRS
};
static PyObject **const attr_names[NATTRS] = {
    &str_publish_time, &str_conflated, &str_changed_runners, &str_runners,
    &str_traded_seen,  &str_market_tv, &str_tv,           &str_is_valid,
};
static PyTypeObject *slot_type; /* the type whose offsets are known (a strong reference) */
static Py_ssize_t slot_offset[NATTRS];

static void
learn_slots(PyTypeObject *t)
{
    Py_ssize_t off[NATTRS];
    for (int i = 0; i < NATTRS; i++) {
        PyObject *d = _PyType_Lookup(t, *attr_names[i]);
        if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type))
            return;
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type != T_OBJECT_EX || (m->flags & READONLY))
            return;
        off[i] = m->offset;
    }
    memcpy(slot_offset, off, sizeof(off));
    Py_INCREF(t);
    Py_XSETREF(slot_type, t);
}

static inline int
book_set(PyObject *book, int a, PyObject *v)
{
    if (Py_TYPE(book) == slot_type) {
        PyObject **slot = (PyObject **)((char *)book + slot_offset[a]);
        Py_INCREF(v);
        Py_XSETREF(*slot, v);
        return 0;
    }
    return PyObject_SetAttr(book, *attr_names[a], v);
}

static inline PyObject *
book_get(PyObject *book, int a)
{
    if (Py_TYPE(book) == slot_type) {
        PyObject *v = *(PyObject **)((char *)book + slot_offset[a]);
        if (v != NULL) {
            Py_INCREF(v);
            return v;
        }
    }
    return PyObject_GetAttr(book, *attr_names[a]);
}

/* apply a planned message: apply_deltas' second pass */
static int
apply_plan(Plan *pl, long long stamp)
{
    PyObject *pt = pl->pt != NULL ? pl->pt : Py_None;
    for (Py_ssize_t i = 0; i < pl->nmcs; i++) {
        McPlan *mc = &pl->mcs[i];
        PyObject *book = mc->book;
        if (Py_TYPE(book) != slot_type)
            learn_slots(Py_TYPE(book));
        PyObject *changed = PyList_New(0);
        if (changed == NULL)
            return -1;
        if (book_set(book, A_PUBLISH_TIME, pt) < 0 ||
            book_set(book, A_CONFLATED, mc->con ? Py_True : Py_False) < 0 ||
            book_set(book, A_CHANGED, changed) < 0) {
            Py_DECREF(changed);
            return -1;
        }
        if (mc->def1 > mc->def0 || mc->image) {
            /* an image's reset and the definition first, as the full path (runners may come
             * and go) */
            PyObject *raw = mc->def1 > mc->def0
                                ? PyBytes_FromStringAndSize((const char *)pl->line + mc->def0,
                                                            mc->def1 - mc->def0)
                                : Py_NewRef(Py_None);
            PyObject *call_args[3] = {book, raw, mc->image ? Py_True : Py_False};
            PyObject *done = raw ? PyObject_Vectorcall(pl->on_definition, call_args, 3, NULL) : NULL;
            Py_XDECREF(raw);
            if (done == NULL) {
                Py_DECREF(changed);
                return -1;
            }
            Py_DECREF(done);
        }
        int rv = 0, flags = 0;
        if (mc->rc1 > mc->rc0) {
            PyObject *runners = book_get(book, A_RUNNERS);
            if (runners != NULL && !PyDict_Check(runners)) {
                PyErr_SetString(PyExc_TypeError, "book._runners is not a dict");
                Py_CLEAR(runners);
            }
            rv = runners == NULL ? -1 : 0;
            for (Py_ssize_t j = mc->rc0; rv == 0 && j < mc->rc1; j++) {
                RcPlan *rc = &pl->rcs[j];
                Core *r = runner_for(runners, rc->sid, rc->hc, stamp, changed, NULL, book);
                if (r == NULL)
                    rv = -1;
                else {
                    apply_planned(r, pl, rc, &flags);
                    Py_DECREF(r);
                }
            }
            Py_XDECREF(runners);
            if (rv == 0 && flags &&
                (book_set(book, A_TRADED_SEEN, Py_True) < 0 ||
                 book_set(book, A_MARKET_TV, Py_None) < 0))
                rv = -1;
        }
        Py_DECREF(changed);
        if (rv < 0)
            return -1;
        if (mc->tv != NULL && book_set(book, A_TV, mc->tv) < 0)
            return -1;
    }
    return 0;
}

PyDoc_STRVAR(apply_line_doc,
"apply_line(markets, line, stamp, on_definition=None) -> (pt, books) | None\n\n"
"apply_deltas read straight from a line's bytes: for a message apply_deltas would take (and\n"
"that this scanner reads: see the source), applies it and returns its publish time (None when\n"
"absent) and its books in order, one per market change; otherwise changes nothing and returns\n"
"None, and the line is to be decoded and applied in full. With ``on_definition``, a market\n"
"change may carry a definition or \"img\": true: on_definition(book, the definition's bytes or\n"
"None, image) applies them after the book's publish time and before its runner changes, as\n"
"the full path does.");

static PyObject *
apply_line(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 && nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "apply_line takes 3 or 4 arguments");
        return NULL;
    }
    PyObject *on_definition = nargs == 4 && args[3] != Py_None ? args[3] : NULL;
    if (on_definition != NULL && !PyCallable_Check(on_definition)) {
        PyErr_SetString(PyExc_TypeError, "apply_line: on_definition is not callable");
        return NULL;
    }
    PyObject *markets = args[0];
    long long stamp = PyLong_AsLongLong(args[2]);
    if (stamp == -1 && PyErr_Occurred())
        return NULL;
    if (!PyDict_Check(markets))
        Py_RETURN_NONE;
    Py_buffer view;
    if (PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE) < 0) {
        PyErr_Clear(); /* a str: the full path reads it */
        Py_RETURN_NONE;
    }
    Plan own = {0}, *pl = shared_plan.busy ? &own : &shared_plan;
    pl->busy = 1;
    Scan s = {(const unsigned char *)view.buf, (const unsigned char *)view.buf + view.len, 0};
    PyObject *out = NULL;
    pl->line = s.p;
    pl->on_definition = on_definition;
    int r = scan_message(&s, pl, markets, NULL);
    if (r > 0 && apply_plan(pl, stamp) == 0) {
        PyObject *books = PyList_New(pl->nmcs);
        if (books != NULL) {
            for (Py_ssize_t i = 0; i < pl->nmcs; i++) {
                Py_INCREF(pl->mcs[i].book);
                PyList_SET_ITEM(books, i, pl->mcs[i].book);
            }
            out = PyTuple_Pack(2, pl->pt != NULL ? pl->pt : Py_None, books);
            Py_DECREF(books);
        }
    }
    else if (r == 0) {
        out = Py_None;
        Py_INCREF(out);
    }
    PyBuffer_Release(&view);
    if (pl == &own)
        plan_free(pl);
    else {
        plan_clear(pl);
        pl->busy = 0;
    }
    return out;
}

/* whether a planned line only touches markets ``idle`` names, valid, before their limit */
static int
plan_is_idle(const Plan *pl, PyObject *idle)
{
    if (pl->pt == NULL)
        return 0;
    double pt = PyFloat_AsDouble(pl->pt);
    if (pt == -1.0 && PyErr_Occurred())
        return -1;
    for (Py_ssize_t i = 0; i < pl->nmcs; i++) {
        const McPlan *mc = &pl->mcs[i];
        PyObject *limit = PyDict_GetItemWithError(idle, mc->mid);
        if (limit == NULL)
            return PyErr_Occurred() ? -1 : 0;
        double until = PyFloat_AsDouble(limit);
        if (until == -1.0 && PyErr_Occurred())
            return -1;
        if (!(pt < until))
            return 0;
        PyObject *valid = book_get(mc->book, A_IS_VALID);
        if (valid == NULL)
            return -1;
        Py_DECREF(valid);
        if (valid != Py_True)
            return 0;
    }
    return 1;
}

PyDoc_STRVAR(apply_lines_doc,
"apply_lines(markets, first, lines, stamp, idle) -> (taken, changes, pt, left)\n\n"
"apply_line over a run of lines whose books nobody is waiting for: ``first``, then lines\n"
"drawn from the iterator ``lines``, as long as each is one apply_line takes and changes only\n"
"markets that ``idle`` (market id -> publish time) names, still valid, with a publish time\n"
"before the market's limit. Returns how many lines it applied (stamped stamp + 1, + 2...),\n"
"their market changes, the last one's publish time, and the first line it left (or None when\n"
"``lines`` ran out): that line is unchanged, or partly applied when applying it failed (the\n"
"full path then applies it again and reports the failure).");

static PyObject *
apply_lines(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "apply_lines takes 5 arguments");
        return NULL;
    }
    PyObject *markets = args[0], *it = args[2], *idle = args[4];
    long long stamp = PyLong_AsLongLong(args[3]);
    if (stamp == -1 && PyErr_Occurred())
        return NULL;
    if (!PyDict_Check(markets) || !PyDict_Check(idle) || !PyIter_Check(it)) {
        PyErr_SetString(PyExc_TypeError, "apply_lines: markets and idle dicts, lines an iterator");
        return NULL;
    }
    Plan own = {0}, *pl = shared_plan.busy ? &own : &shared_plan;
    pl->busy = 1;
    Py_ssize_t taken = 0, changes = 0;
    PyObject *line = args[1], *last_pt = Py_None, *out = NULL;
    Py_INCREF(line);
    Py_INCREF(last_pt);
    while (line != NULL) {
        if (!PyBytes_CheckExact(line) || PyBytes_GET_SIZE(line) == 0)
            break;
        const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(line);
        Scan s = {b, b + PyBytes_GET_SIZE(line), 0};
        pl->line = b;
        pl->on_definition = NULL; /* a definition: somebody waits for it */
        int r = scan_message(&s, pl, markets, idle);
        if (r > 0)
            r = plan_is_idle(pl, idle);
        if (r > 0 && apply_plan(pl, stamp + taken + 1) < 0)
            r = -1;
        if (r <= 0) {
            if (r < 0 && !PyErr_ExceptionMatches(PyExc_MemoryError))
                PyErr_Clear(); /* the full path meets it again, and says so */
            plan_clear(pl);
            if (PyErr_Occurred())
                goto done;
            break;
        }
        taken++;
        changes += pl->nmcs;
        Py_INCREF(pl->pt);
        Py_SETREF(last_pt, pl->pt);
        plan_clear(pl);
        Py_DECREF(line);
        line = PyIter_Next(it);
        if (line == NULL && PyErr_Occurred())
            goto done;
    }
    out = Py_BuildValue("(nnOO)", taken, changes, last_pt, line != NULL ? line : Py_None);
done:
    Py_XDECREF(line);
    Py_DECREF(last_pt);
    if (pl == &own)
        plan_free(pl);
    else {
        plan_clear(pl);
        pl->busy = 0;
    }
    return out;
}

static PyMethodDef module_methods[] = {
    {"apply_changes", (PyCFunction)(void (*)(void))apply_changes, METH_FASTCALL,
     apply_changes_doc},
    {"apply_deltas", (PyCFunction)(void (*)(void))apply_deltas, METH_FASTCALL,
     apply_deltas_doc},
    {"apply_line", (PyCFunction)(void (*)(void))apply_line, METH_FASTCALL, apply_line_doc},
    {"apply_lines", (PyCFunction)(void (*)(void))apply_lines, METH_FASTCALL, apply_lines_doc},
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
        {&str_is_valid, "is_valid"},
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
