/* A phone number's ASCII digits without its separators, in one C call (``core/phone.py``).
 *
 * The phone fast path first removes spaces, dashes, brackets, dots, slashes, no-break spaces
 * and tabs, then takes the number only if nothing but ASCII digits remains. In Python that is
 * eight ``in``/``replace`` passes and two str tests, about 500 ns for ``(415) 555-0123``; here
 * it is one pass over the text. ``phone.py`` picks this module when the core is compiled and its
 * own Python otherwise; a property test holds both to the same result on any text.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* digits(text, start, /) -> str | None: text[start:] without separators, or None unless only
 * ASCII digits remain (and at least one). */
static PyObject *
digits(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "digits() takes a str and a start index");
        return NULL;
    }
    PyObject *text = args[0];
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (start < 0 || start > length) {
        PyErr_SetString(PyExc_IndexError, "start is outside the text");
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t count = 0;
    for (Py_ssize_t i = start; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= '0' && c <= '9') {
            count++;
        }
        else if (c != ' ' && c != '-' && c != '(' && c != ')' && c != '.' && c != 0xA0
                 && c != '/' && c != '\t') {
            Py_RETURN_NONE;  /* a letter, a "+", another script's digit: the full parser's */
        }
    }
    if (count == 0) {
        Py_RETURN_NONE;
    }
    PyObject *out = PyUnicode_New(count, 127);
    if (out == NULL) {
        return NULL;
    }
    Py_UCS1 *next = PyUnicode_1BYTE_DATA(out);
    for (Py_ssize_t i = start; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= '0' && c <= '9') {
            *next++ = (Py_UCS1)c;
        }
    }
    return out;
}

static PyMethodDef methods[] = {
    {"digits", (PyCFunction)(void (*)(void))digits, METH_FASTCALL,
     "digits(text, start, /)\n--\n\n"
     "text[start:] without phone separators, or None unless only ASCII digits remain."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "consumer.core._phone",
    .m_doc = "A phone number's ASCII digits without its separators.",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__phone(void)
{
    return PyModule_Create(&module);
}
