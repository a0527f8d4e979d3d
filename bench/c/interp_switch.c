/* interp_switch.c - cost of moving a thread between two own-GIL interpreters.
 *
 *   interp_switch [ITERATIONS]
 *
 * Embeds CPython, creates two sub-interpreters with their own GIL (one at a
 * time, on the main thread, as the server does), then on a separate thread
 * that owns one thread state per interpreter (PyThreadState_New, as a
 * worker does) measures:
 *   - attach + detach of one interpreter (PyEval_RestoreThread followed by
 *     PyEval_SaveThread), which is what a pinned worker pays per handler call;
 *   - a switch: detach from interpreter A and attach to interpreter B, in a
 *     loop A, B, A, B ... (what a thread that serves two interpreters pays).
 * Each figure is the median of 5 repetitions.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "bench_util.h"

#define REPS 5

static size_t iterations = 2000000;
static PyInterpreterState *interp[2];

static double attach_detach(PyThreadState *ts)
{
    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < iterations; i++) {
        PyEval_RestoreThread(ts);
        (void)PyEval_SaveThread();
    }
    return (double)(bench_now_ns() - t0) / (double)iterations;
}

static double switch_between(PyThreadState *a, PyThreadState *b)
{
    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < iterations; i++) {
        PyEval_RestoreThread(a);
        (void)PyEval_SaveThread();
        PyEval_RestoreThread(b);
        (void)PyEval_SaveThread();
    }
    /* two switches per iteration: ->A and ->B */
    return (double)(bench_now_ns() - t0) / (double)(2 * iterations);
}

static double results[2][REPS];

static void *worker(void *arg)
{
    (void)arg;
    PyThreadState *ts[2];
    for (int k = 0; k < 2; k++)
        ts[k] = PyThreadState_New(interp[k]);
    for (int r = 0; r < REPS; r++) {
        results[0][r] = attach_detach(ts[0]);
        results[1][r] = switch_between(ts[0], ts[1]);
    }
    for (int k = 0; k < 2; k++) {
        PyEval_RestoreThread(ts[k]);
        PyThreadState_Clear(ts[k]);
        PyThreadState_DeleteCurrent();
    }
    return NULL;
}

static PyThreadState *new_own_gil_interp(void)
{
    PyInterpreterConfig cfg = {
        .use_main_obmalloc = 0,
        .allow_fork = 0,
        .allow_exec = 0,
        .allow_threads = 1,
        .allow_daemon_threads = 0,
        .check_multi_interp_extensions = 1,
        .gil = PyInterpreterConfig_OWN_GIL,
    };
    PyThreadState *ts = NULL;
    PyStatus st = Py_NewInterpreterFromConfig(&ts, &cfg);
    if (PyStatus_Exception(st))
        Py_ExitStatusException(st);
    return ts;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        iterations = strtoull(argv[1], NULL, 10);
    if (iterations < 1000)
        iterations = 1000;

    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    PyStatus st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st))
        Py_ExitStatusException(st);

    PyThreadState *main_ts = PyThreadState_Get();
    PyThreadState *creators[2];
    for (int k = 0; k < 2; k++) {
        creators[k] = new_own_gil_interp(); /* attached to the new interpreter */
        interp[k] = creators[k]->interp;
        (void)PyEval_SaveThread();          /* detach (releases its GIL) */
        PyEval_RestoreThread(main_ts);      /* back to the main interpreter */
    }
    PyThreadState *saved_main = PyEval_SaveThread();

    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0)
        return 1;
    pthread_join(t, NULL);

    for (int k = 0; k < 2; k++) {
        PyEval_RestoreThread(creators[k]);
        Py_EndInterpreter(creators[k]);
    }
    PyEval_RestoreThread(saved_main);
    Py_Finalize();

    printf("Own-GIL sub-interpreters (Python %s), %zu iterations, median of %d\n", PY_VERSION,
           iterations, REPS);
    bench_result("interp_attach_detach_ns", bench_median(results[0], REPS), "ns",
                 "attach + detach, one interpreter");
    bench_result("interp_switch_ns", bench_median(results[1], REPS), "ns",
                 "switch to the other interpreter (detach+attach)");
    return 0;
}
