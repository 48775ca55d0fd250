/* The dedup table's two per-batch loops, ``claim`` and ``put_many``, in C.
 *
 * ``consumer.core.dedup_table.CompactTable`` keeps its entries in one ``bytearray`` of 28-byte
 * slots (key 16 | owner 8 | expires u32 little-endian) with linear probing from the key's first
 * eight bytes (little-endian) and the key's last byte read first. Compiled with mypyc, its loops
 * still cost 600-700 ns per key (a bytearray subscript, ``startswith`` and ``pack_into`` calls,
 * an image built by concatenation); here they cost a few memcmp/memcpy per key. Every event
 * goes through both (``claim`` when it is admitted, ``put_many`` when Meta acknowledges it).
 *
 * The table's growth (``move``: every entry into a table twice the size) and its expiry
 * (``expire``: a due time bucket's keys looked up and deleted) are here too: in Python each took
 * one to two seconds per million entries, the event loop blocked meanwhile.
 *
 * The functions work on the table's own bytearray and return what the Python loops return, so
 * the table's layout, its snapshots and its write-ahead log are the same with either.
 * ``dedup_table`` picks this module when the core is compiled; a property test holds both to
 * the same slots and results on random batches. The caller grows the table first (load <= 0.75),
 * so a probe always ends; a full table raises instead of looping.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define SLOT_BYTES 28
#define KEY_BYTES 16
#define OWNER_BYTES 8
#define EXPIRES_AT (KEY_BYTES + OWNER_BYTES)

static const unsigned char EMPTY_KEY[KEY_BYTES] = {0};

typedef struct {
    unsigned char *slots;
    Py_ssize_t size;
    uint64_t mask;
} table_t;

/* The slots bytearray and its mask, checked against each other. */
static int
table_of(PyObject *slots, PyObject *mask_object, table_t *table)
{
    if (!PyByteArray_CheckExact(slots)) {
        PyErr_SetString(PyExc_TypeError, "slots must be a bytearray");
        return -1;
    }
    unsigned long long mask = PyLong_AsUnsignedLongLong(mask_object);
    if (mask == (unsigned long long)-1 && PyErr_Occurred()) {
        return -1;
    }
    table->size = PyByteArray_GET_SIZE(slots);
    if (mask >= (unsigned long long)(PY_SSIZE_T_MAX / SLOT_BYTES) || (mask & (mask + 1)) != 0
        || (unsigned long long)table->size != (mask + 1) * SLOT_BYTES) {
        PyErr_SetString(PyExc_ValueError, "slots must hold mask + 1 slots, a power of two");
        return -1;
    }
    table->slots = (unsigned char *)PyByteArray_AS_STRING(slots);
    table->mask = (uint64_t)mask;
    return 0;
}

static int
expires_of(PyObject *object, uint32_t *expires)
{
    unsigned long long value = PyLong_AsUnsignedLongLong(object);
    if (value == (unsigned long long)-1 && PyErr_Occurred()) {
        return -1;
    }
    if (value > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "expires does not fit an unsigned 32-bit int");
        return -1;
    }
    *expires = (uint32_t)value;
    return 0;
}

static const unsigned char *
bytes_of(PyObject *object, Py_ssize_t size, const char *what)
{
    if (!PyBytes_CheckExact(object) || PyBytes_GET_SIZE(object) != size) {
        PyErr_Format(PyExc_ValueError, "every %s must be %zd bytes", what, size);
        return NULL;
    }
    return (const unsigned char *)PyBytes_AS_STRING(object);
}

static uint64_t
read_le64(const unsigned char *data)
{
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--) {
        value = (value << 8) | data[i];
    }
    return value;
}

static uint32_t
read_le32(const unsigned char *data)
{
    return (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16
           | (uint32_t)data[3] << 24;
}

static void
write_slot(unsigned char *slot, const unsigned char *key, const unsigned char *owner,
           uint32_t expires)
{
    memcpy(slot, key, KEY_BYTES);
    memcpy(slot + KEY_BYTES, owner, OWNER_BYTES);
    for (int i = 0; i < 4; i++) {
        slot[EXPIRES_AT + i] = (unsigned char)(expires >> (8 * i));
    }
}

/* True (with a TypeError) unless exactly ``expected`` arguments were passed. */
static int
wrong_count(const char *name, Py_ssize_t nargs, Py_ssize_t expected)
{
    if (nargs == expected) {
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, expected, nargs);
    return 1;
}

/* Byte offset of ``key``'s slot (*found = 1), or of the empty slot ending its probe (0);
 * -1 with an exception when every slot is taken by another key. */
static Py_ssize_t
probe(const table_t *table, const unsigned char *key, int *found)
{
    Py_ssize_t offset = (Py_ssize_t)((read_le64(key) & table->mask) * SLOT_BYTES);
    const unsigned char tag = key[KEY_BYTES - 1];
    for (uint64_t step = 0; step <= table->mask; step++) {
        const unsigned char *slot = table->slots + offset;
        const unsigned char byte = slot[KEY_BYTES - 1];
        if (byte == tag && memcmp(slot, key, KEY_BYTES) == 0) {
            *found = 1;
            return offset;
        }
        if (byte == 0 && memcmp(slot, EMPTY_KEY, KEY_BYTES) == 0) {
            *found = 0;
            return offset;
        }
        offset += SLOT_BYTES;
        if (offset == table->size) {
            offset = 0;
        }
    }
    PyErr_SetString(PyExc_RuntimeError, "dedup table is full (it grows before each batch)");
    return -1;
}

/* claim(slots, mask, keys, owners, now, expires) -> (results, added, written keys)
 *
 * Per key: absent or expired -> pending(owner); pending(owner) -> refreshed; otherwise a
 * duplicate (None). Results hold each new slot image (bytes) or None; ``added`` counts keys
 * that took an empty slot; the written keys (those not None) come concatenated, for the
 * expiry bucket. */
static PyObject *
claim(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (wrong_count("claim", nargs, 6)) {
        return NULL;
    }
    table_t table;
    uint32_t expires;
    if (table_of(args[0], args[1], &table) < 0 || expires_of(args[5], &expires) < 0) {
        return NULL;
    }
    long long now = PyLong_AsLongLong(args[4]);
    if (now == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *keys = PySequence_Fast(args[2], "keys must be a sequence");
    PyObject *owners = keys ? PySequence_Fast(args[3], "owners must be a sequence") : NULL;
    PyObject *results = NULL, *written = NULL, *out = NULL;
    if (owners == NULL) {
        goto done;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(keys);
    if (PySequence_Fast_GET_SIZE(owners) != count) {
        PyErr_SetString(PyExc_ValueError, "keys and owners differ in length");
        goto done;
    }
    results = PyList_New(count);
    written = PyBytes_FromStringAndSize(NULL, count * KEY_BYTES);
    if (results == NULL || written == NULL) {
        goto done;
    }
    unsigned char *next = (unsigned char *)PyBytes_AS_STRING(written);
    Py_ssize_t added = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        const unsigned char *key = bytes_of(PySequence_Fast_GET_ITEM(keys, i), KEY_BYTES, "key");
        const unsigned char *owner =
            key ? bytes_of(PySequence_Fast_GET_ITEM(owners, i), OWNER_BYTES, "owner") : NULL;
        if (owner == NULL) {
            goto done;
        }
        int found;
        Py_ssize_t offset = probe(&table, key, &found);
        if (offset < 0) {
            goto done;
        }
        unsigned char *slot = table.slots + offset;
        if (found && (long long)read_le32(slot + EXPIRES_AT) > now
            && memcmp(slot + KEY_BYTES, owner, OWNER_BYTES) != 0) {
            PyList_SET_ITEM(results, i, Py_NewRef(Py_None));  /* a live entry of another */
            continue;
        }
        added += !found;
        write_slot(slot, key, owner, expires);
        PyObject *image = PyBytes_FromStringAndSize((const char *)slot, SLOT_BYTES);
        if (image == NULL) {
            goto done;
        }
        PyList_SET_ITEM(results, i, image);
        memcpy(next, key, KEY_BYTES);
        next += KEY_BYTES;
    }
    Py_ssize_t used = next - (unsigned char *)PyBytes_AS_STRING(written);
    if (used != count * KEY_BYTES && _PyBytes_Resize(&written, used) < 0) {
        goto done;
    }
    out = Py_BuildValue("(OnO)", results, added, written);
done:
    /* A failure part-way leaves the slots written so far: the caller's count is then stale,
     * which only the impossible inputs above (a key of the wrong size) can cause. */
    Py_XDECREF(keys);
    Py_XDECREF(owners);
    Py_XDECREF(results);
    Py_XDECREF(written);
    return out;
}

/* put_many(slots, mask, keys, owner, expires) -> (added, images)
 *
 * Set every key to (owner, expires) unconditionally; ``added`` counts keys that took an empty
 * slot, ``images`` holds each key's new slot image. */
static PyObject *
put_many(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (wrong_count("put_many", nargs, 5)) {
        return NULL;
    }
    table_t table;
    uint32_t expires;
    if (table_of(args[0], args[1], &table) < 0 || expires_of(args[4], &expires) < 0) {
        return NULL;
    }
    const unsigned char *owner = bytes_of(args[3], OWNER_BYTES, "owner");
    if (owner == NULL) {
        return NULL;
    }
    PyObject *keys = PySequence_Fast(args[2], "keys must be a sequence");
    if (keys == NULL) {
        return NULL;
    }
    PyObject *images = NULL, *out = NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(keys), added = 0;
    images = PyList_New(count);
    if (images == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        const unsigned char *key = bytes_of(PySequence_Fast_GET_ITEM(keys, i), KEY_BYTES, "key");
        if (key == NULL) {
            goto done;
        }
        int found;
        Py_ssize_t offset = probe(&table, key, &found);
        if (offset < 0) {
            goto done;
        }
        added += !found;
        write_slot(table.slots + offset, key, owner, expires);
        PyObject *image = PyBytes_FromStringAndSize((const char *)table.slots + offset, SLOT_BYTES);
        if (image == NULL) {
            goto done;
        }
        PyList_SET_ITEM(images, i, image);
    }
    out = Py_BuildValue("(nO)", added, images);
done:
    Py_DECREF(keys);
    Py_XDECREF(images);
    return out;
}

/* move(old, new, mask) -> None: every entry of the ``old`` slots into the empty ``new`` ones
 * (``mask`` is new's), each at the end of its probe there: the table's growth. */
static PyObject *
move(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (wrong_count("move", nargs, 3)) {
        return NULL;
    }
    table_t table;
    if (!PyByteArray_CheckExact(args[0]) || table_of(args[1], args[2], &table) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "old slots must be a bytearray");
        }
        return NULL;
    }
    if (args[0] == args[1]) {
        PyErr_SetString(PyExc_ValueError, "old and new slots must differ");
        return NULL;
    }
    const unsigned char *old = (const unsigned char *)PyByteArray_AS_STRING(args[0]);
    Py_ssize_t old_size = PyByteArray_GET_SIZE(args[0]);
    if (old_size % SLOT_BYTES != 0 || old_size > table.size) {
        PyErr_SetString(PyExc_ValueError, "old slots must be whole slots, no more than new");
        return NULL;
    }
    for (Py_ssize_t at = 0; at < old_size; at += SLOT_BYTES) {
        const unsigned char *key = old + at;
        if (memcmp(key, EMPTY_KEY, KEY_BYTES) == 0) {
            continue;
        }
        /* the first empty slot from the key's home (keys are unique: no match to look for) */
        Py_ssize_t offset = (Py_ssize_t)((read_le64(key) & table.mask) * SLOT_BYTES);
        uint64_t step = 0;
        while (table.slots[offset + KEY_BYTES - 1] != 0
               || memcmp(table.slots + offset, EMPTY_KEY, KEY_BYTES) != 0) {
            offset += SLOT_BYTES;
            if (offset == table.size) {
                offset = 0;
            }
            if (++step > table.mask) {
                PyErr_SetString(PyExc_RuntimeError, "new slots are full");
                return NULL;
            }
        }
        memcpy(table.slots + offset, key, SLOT_BYTES);
    }
    Py_RETURN_NONE;
}

/* Backward-shift deletion of the entry at slot ``hole``: later members of its cluster move up,
 * leaving no tombstone. */
static void
delete_at(const table_t *table, uint64_t hole)
{
    uint64_t index = hole;
    for (;;) {
        index = (index + 1) & table->mask;
        unsigned char *slot = table->slots + index * SLOT_BYTES;
        if (memcmp(slot, EMPTY_KEY, KEY_BYTES) == 0) {
            break;
        }
        uint64_t home = read_le64(slot) & table->mask;
        if (((index - home) & table->mask) >= ((index - hole) & table->mask)) {
            memcpy(table->slots + hole * SLOT_BYTES, slot, SLOT_BYTES);
            hole = index;
        }
    }
    memset(table->slots + hole * SLOT_BYTES, 0, SLOT_BYTES);
}

/* expire(slots, mask, keys, now) -> int: each 16-byte key of ``keys`` (a due time bucket)
 * deleted if its entry has expired by ``now``; the number deleted. */
static PyObject *
expire(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (wrong_count("expire", nargs, 4)) {
        return NULL;
    }
    table_t table;
    if (table_of(args[0], args[1], &table) < 0) {
        return NULL;
    }
    if (!PyByteArray_CheckExact(args[2]) || args[2] == args[0]) {
        PyErr_SetString(PyExc_TypeError, "keys must be a bytearray of their own");
        return NULL;
    }
    long long now = PyLong_AsLongLong(args[3]);
    if (now == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const unsigned char *keys = (const unsigned char *)PyByteArray_AS_STRING(args[2]);
    Py_ssize_t size = PyByteArray_GET_SIZE(args[2]);
    if (size % KEY_BYTES != 0) {
        PyErr_SetString(PyExc_ValueError, "keys must be whole 16-byte keys");
        return NULL;
    }
    Py_ssize_t dropped = 0;
    for (Py_ssize_t at = 0; at < size; at += KEY_BYTES) {
        int found;
        Py_ssize_t offset = probe(&table, keys + at, &found);
        if (offset < 0) {
            return NULL;
        }
        if (found && (long long)read_le32(table.slots + offset + EXPIRES_AT) <= now) {
            delete_at(&table, (uint64_t)(offset / SLOT_BYTES));
            dropped++;
        }
    }
    return PyLong_FromSsize_t(dropped);
}

static PyMethodDef methods[] = {
    {"claim", (PyCFunction)(void (*)(void))claim, METH_FASTCALL,
     "claim(slots, mask, keys, owners, now, expires, /)\n--\n\n"
     "The table rule per key: (slot image or None per key, slots added, written keys)."},
    {"put_many", (PyCFunction)(void (*)(void))put_many, METH_FASTCALL,
     "put_many(slots, mask, keys, owner, expires, /)\n--\n\n"
     "Set every key to (owner, expires): (slots added, slot images)."},
    {"move", (PyCFunction)(void (*)(void))move, METH_FASTCALL,
     "move(old, new, mask, /)\n--\n\n"
     "Every entry of the old slots into the empty new ones (mask is new's): growth."},
    {"expire", (PyCFunction)(void (*)(void))expire, METH_FASTCALL,
     "expire(slots, mask, keys, now, /)\n--\n\n"
     "Delete each key of a due time bucket whose entry has expired by now: how many."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "consumer.core._table",
    .m_doc = "The dedup table's claim and put_many loops over its bytearray of slots.",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__table(void)
{
    return PyModule_Create(&module);
}
