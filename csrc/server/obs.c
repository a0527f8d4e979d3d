/* obs.c - the access log and the metrics, wired to the server's life and
 * to the few places outside a request record that count something (see
 * obs.h).
 */
#include "obs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../http2/session.h"
#include "accesslog.h"
#include "metrics.h"
#include "server_internal.h"

/* HTTP/2 frame types and the one error code that is not an error
 * (RFC 9113 sections 6.4, 6.8, 7), so this file needs no nghttp2 header. */
#define FA_H2_FRAME_RST_STREAM 0x3
#define FA_H2_FRAME_GOAWAY 0x7
#define FA_H2_NO_ERROR 0x0

/* threads per process slot of a region we make ourselves */
#define FA_OBS_MIN_BLOCKS 64

void fa_obs_config_defaults(fa_obs_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->metrics_port = -1;
    cfg->access_log_fd = STDERR_FILENO;
}

/* The label of the interpreter a thread runs handlers in. */
static void fa_obs_interp_label(fa_server *srv, int pooled, int id, char *out, size_t n)
{
    if (srv->main_interp)
        snprintf(out, n, "main");
    else if (pooled)
        snprintf(out, n, "pool-%d", id % (srv->num_pool_interps ? srv->num_pool_interps : 1));
    else
        snprintf(out, n, "worker-%d", id);
}

int fa_obs_start(fa_server *srv, char *err, size_t err_size)
{
    fa_obs_config *cfg = &srv->obs;
    if (cfg->access_log && srv->alog_fmt == NULL) {
        srv->alog_fmt = fa_alog_format_compile(
            cfg->access_log_format[0] ? cfg->access_log_format : FA_ALOG_DEFAULT_FORMAT, err, err_size);
        if (srv->alog_fmt == NULL)
            return -1;
    }
    if (cfg->access_log)
        for (int i = 0; i < srv->num_workers; i++)
            if ((srv->workers[i].alog = fa_alog_writer_new(cfg->access_log_fd)) == NULL) {
                snprintf(err, err_size, "out of memory");
                goto fail;
            }
    int want_metrics = cfg->metrics_port >= 0 || cfg->region_mem != NULL;
    if (!want_metrics)
        return 0;
    unsigned threads = (unsigned)(srv->num_workers + srv->num_pool);
    unsigned slot = 0;
    if (cfg->region_mem != NULL) {
        srv->mregion = fa_metrics_region_attach(cfg->region_mem, cfg->region_size, 0, 0);
        if (srv->mregion == NULL) {
            snprintf(err, err_size, "the metrics region given is not one (or is too small)");
            goto fail;
        }
        slot = cfg->region_slot;
        if (slot >= fa_metrics_region_slots(srv->mregion)) {
            snprintf(err, err_size, "metrics slot %u is beyond the region's %u", slot,
                     fa_metrics_region_slots(srv->mregion));
            goto fail;
        }
        if (threads > fa_metrics_region_blocks(srv->mregion))
            fa_log("metrics: %u threads, the region counts the first %u", threads,
                   fa_metrics_region_blocks(srv->mregion));
    } else {
        srv->mregion = fa_metrics_region_new(1, threads > FA_OBS_MIN_BLOCKS ? threads : FA_OBS_MIN_BLOCKS);
        if (srv->mregion == NULL) {
            snprintf(err, err_size, "cannot map the metrics region: out of memory");
            goto fail;
        }
        srv->mregion_own = 1;
    }
    srv->mslot = slot;
    fa_metrics_slot_open(srv->mregion, slot, getpid());
    char label[32];
    for (int i = 0; i < srv->num_workers; i++) {
        fa_obs_interp_label(srv, 0, i, label, sizeof(label));
        srv->workers[i].mb = fa_metrics_block_claim(srv->mregion, slot, (unsigned)i, label);
    }
    for (int i = 0; i < srv->num_pool; i++) {
        fa_obs_interp_label(srv, 1, i, label, sizeof(label));
        srv->pool[i].mb = fa_metrics_block_claim(srv->mregion, slot, (unsigned)(srv->num_workers + i), label);
    }
    if (cfg->metrics_port >= 0) {
        const char *host = cfg->metrics_host[0] ? cfg->metrics_host : srv->cfg.host;
        srv->mhttp = fa_metrics_http_start(srv->mregion, host, cfg->metrics_port, err, err_size);
        if (srv->mhttp == NULL)
            goto fail;
        fa_log("Metrics on http://%s:%d/metrics", host, fa_metrics_http_port(srv->mhttp));
    }
    return 0;
fail:
    fa_obs_stop(srv);
    return -1;
}

void fa_obs_stop(fa_server *srv)
{
    fa_metrics_http_stop(srv->mhttp);
    srv->mhttp = NULL;
    for (int i = 0; srv->workers && i < srv->num_workers; i++) {
        fa_alog_writer_free(srv->workers[i].alog); /* flushes the last lines */
        srv->workers[i].alog = NULL;
        srv->workers[i].mb = NULL;
    }
    for (int i = 0; srv->pool && i < srv->num_pool; i++)
        srv->pool[i].mb = NULL;
    if (srv->mregion != NULL) {
        if (srv->mregion_own)
            fa_metrics_region_free(srv->mregion);
        /* a supervisor's region: the supervisor retires our slot once it
         * saw this process exit */
        srv->mregion = NULL;
        srv->mregion_own = 0;
    }
}

int fa_obs_metrics_port(fa_server *srv)
{
    return srv->mhttp != NULL ? fa_metrics_http_port(srv->mhttp) : -1;
}

void fa_obs_io(fa_conn *c, size_t in, size_t out)
{
    fa_metrics_block *mb = c->worker->mb;
    if (mb == NULL)
        return;
    if (in)
        fa_m_add(&mb->bytes_in, in);
    if (out)
        fa_m_add(&mb->bytes_out, out);
}

void fa_obs_refused(fa_worker *w)
{
    if (w->mb != NULL)
        fa_m_add(&w->mb->refused, 1);
}

uint64_t fa_obs_handler_begin(fa_metrics_block *mb)
{
    return mb != NULL ? fa_m_now_ns() : 0;
}

void fa_obs_handler_end(fa_metrics_block *mb, uint64_t t0)
{
    if (mb == NULL || t0 == 0)
        return;
    fa_m_add(&mb->handler_ns, fa_m_now_ns() - t0);
    fa_m_add(&mb->handler_calls, 1);
}

void fa_obs_handler_resumed(fa_metrics_block *mb, uint64_t t0)
{
    if (mb != NULL && t0 != 0)
        fa_m_add(&mb->handler_ns, fa_m_now_ns() - t0);
}

void fa_obs_pool_submit(fa_worker *w, fa_job *job, int delta)
{
    if (w->mb == NULL)
        return;
    job->queued_ns = delta > 0 ? fa_m_now_ns() : 0;
    /* single writer: taking one back is a plain store too */
    fa_m_add(&w->mb->submitted, delta > 0 ? 1 : (uint64_t)-1);
}

void fa_obs_pool_take(fa_pool_thread *p, fa_job *job)
{
    if (p->mb == NULL || job->kind != FA_JOB_CALL || job->queued_ns == 0)
        return;
    fa_m_observe(p->mb->wait, &p->mb->wait_ns, fa_m_now_ns() - job->queued_ns);
    fa_m_add(&p->mb->started, 1);
    job->queued_ns = 0;
}

void fa_obs_h2_sent(fa_conn *c, int frame_type, uint32_t error_code)
{
    fa_metrics_block *mb = c->worker->mb;
    if (mb == NULL || error_code == FA_H2_NO_ERROR)
        return;
    if (frame_type == FA_H2_FRAME_GOAWAY)
        fa_m_add(&mb->errors[FA_M_ERR_GOAWAY], 1);
    else if (frame_type == FA_H2_FRAME_RST_STREAM)
        fa_m_add(&mb->errors[FA_M_ERR_RST_SENT], 1);
}
