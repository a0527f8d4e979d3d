/* obs_args.h - PyHttp2Server's access log and metrics keywords.
 *
 * Kept apart from module.c's argument list: fa_obs_take_kwargs() removes
 * its keywords from the call's keyword dict before the rest is parsed. */
#ifndef FA_OBS_ARGS_H
#define FA_OBS_ARGS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "../server/obs.h"

/* Fills cfg from access_log=, access_log_format=, metrics_port=,
 * metrics_host= (and the supervisor's private _metrics_region=,
 * _metrics_slot=), deleting them from kwds (the dict CPython made for this
 * call; may be NULL).  Returns 0, or -1 with an exception set. */
int fa_obs_take_kwargs(PyObject *kwds, fa_obs_config *cfg);

#endif
