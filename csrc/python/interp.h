/* interp.h - own-GIL sub-interpreters that run the Python handlers.
 *
 * Each fa_interp is one CPython sub-interpreter created with its own GIL.
 * Creation and ending happen on one thread at a time with the main
 * interpreter's GIL held (concurrent creation races in CPython 3.12/3.13).
 * After creation the interpreter has no thread state; worker threads make
 * their own with fa_pythread_new() and attach around handler calls.
 *
 * No Python object crosses interpreters: every interpreter imports the
 * handler modules itself and keeps its own references, indexed by handler
 * id, and turns requests (C slices) into its own objects.
 */
#ifndef FA_INTERP_H
#define FA_INTERP_H

#include <stddef.h>

#include "../common/http.h"

/* Where a handler lives, as importable names (no Python object). */
typedef struct fa_handler_ref {
    char *module;   /* "__main__" for the main script */
    char *qualname; /* "hello_handler" */
    char *label;    /* "GET:/" for log lines */
    char *route;    /* the path pattern it was added under: req['route'] */
} fa_handler_ref;

/* What every interpreter needs to load the application. */
typedef struct fa_app_spec {
    const fa_handler_ref *handlers;
    size_t num_handlers;
    const char *main_path;   /* __main__.__file__, or NULL */
    char **sys_path;         /* the main interpreter's sys.path */
    size_t sys_path_len;
} fa_app_spec;

typedef struct fa_interp fa_interp;
typedef struct fa_pythread fa_pythread;

/* Creates an own-GIL interpreter and loads every handler in it.  Call with
 * the main interpreter's GIL held; it is held again on return.  On failure
 * returns NULL and writes the reason (the Python traceback when there is one)
 * into err. */
fa_interp *fa_interp_new(const fa_app_spec *spec, char *err, size_t err_size);
/* Ends the interpreter.  Call with the main interpreter's GIL held, after
 * every fa_pythread of it was freed. */
void fa_interp_end(fa_interp *in);

/* A thread's state in an interpreter.  new/free run on the thread that uses
 * it, detached (not holding any GIL). */
fa_pythread *fa_pythread_new(fa_interp *in);
void fa_pythread_free(fa_pythread *pt);
/* Takes / releases the interpreter's GIL for this thread. */
void fa_pythread_attach(fa_pythread *pt);
void fa_pythread_detach(fa_pythread *pt);

/* Runs handler `handler_id` on the request and fills `out` (which the caller
 * reset).  Must be attached.  A handler that raises, or fills `res` with
 * wrong types, yields a 500 (traceback or reason on stderr). */
void fa_pythread_call(fa_pythread *pt, int handler_id, const fa_request *req, fa_response *out);

#endif
