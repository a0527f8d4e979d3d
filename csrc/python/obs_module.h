/* obs_module.h - the binding of the access log and metrics: PyHttp2Server's
 * keywords, and the metrics region functions a supervisor uses.
 *
 * Kept apart from module.c's argument list: fa_obs_take_kwargs() removes
 * its keywords from the call's keyword dict before the rest is parsed. */
#ifndef FA_OBS_MODULE_H
#define FA_OBS_MODULE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "../server/obs.h"

/* Fills cfg from access_log=, access_log_format=, metrics_port=,
 * metrics_host= (and the supervisor's private _metrics_region=,
 * _metrics_slot=), deleting them from kwds (the dict CPython made for this
 * call; may be NULL).  Returns 0, or -1 with an exception set. */
int fa_obs_take_kwargs(PyObject *kwds, fa_obs_config *cfg);

/* Module functions for a supervisor (src/fasterapi/_supervisor.py), which
 * maps the region with mmap before it forks and passes it to each child:
 *   _metrics_region_size(slots, blocks) -> int
 *   _metrics_init(region, slots, blocks)       lays the region out
 *   _metrics_render(region) -> bytes            the text exposition
 *   _metrics_retire(region, slot)               its process is gone
 *   _metrics_count(region, "restart"|"recycle", cause)
 *   _metrics_serve(region, host, port) -> handle  the scrape listener
 *   _metrics_serve_port(handle), _metrics_serve_stop(handle) */
extern PyMethodDef fa_obs_methods[];

/* PyHttp2Server._use_metrics(region, slot): this (forked) process counts
 * into slot `slot` of a supervisor's region and serves no metrics itself.
 * PyHttp2Server._metrics_options(): {"metrics_port", "metrics_host"} as
 * given to the constructor ({} without metrics), for the supervisor. */
PyObject *fa_obs_use_region(fa_obs_config *cfg, int running, PyObject *args);
PyObject *fa_obs_options(const fa_obs_config *cfg);

#endif
