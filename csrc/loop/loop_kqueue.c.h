/* loop_kqueue.c.h - kqueue backend of loop.h (included by loop.c only).
 * Not built in CI (Linux only); kept to the same contract as epoll. */
#include <errno.h>
#include <stdlib.h>
#include <sys/event.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

struct fa_loop {
    int kq;
    struct kevent evs[256];
};

fa_loop *fa_loop_create(void)
{
    fa_loop *loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return NULL;
    loop->kq = kqueue();
    if (loop->kq < 0) {
        int e = errno;
        free(loop);
        errno = e;
        return NULL;
    }
    return loop;
}

void fa_loop_destroy(fa_loop *loop)
{
    if (loop == NULL)
        return;
    close(loop->kq);
    free(loop);
}

static int fa_kq_change(fa_loop *loop, int fd, uint32_t old_events, uint32_t events, void *data)
{
    /* kqueue reports a peer's shutdown only as EV_EOF on the read filter,
     * which would also fire for unread data: HUP-only interest is not
     * watched here (a paused connection notices the peer when it reads
     * again) */
    struct kevent ch[2];
    int n = 0;
    if ((events & FA_EV_READ) && !(old_events & FA_EV_READ))
        EV_SET(&ch[n++], fd, EVFILT_READ, EV_ADD, 0, 0, data);
    else if (!(events & FA_EV_READ) && (old_events & FA_EV_READ))
        EV_SET(&ch[n++], fd, EVFILT_READ, EV_DELETE, 0, 0, data);
    if ((events & FA_EV_WRITE) && !(old_events & FA_EV_WRITE))
        EV_SET(&ch[n++], fd, EVFILT_WRITE, EV_ADD, 0, 0, data);
    else if (!(events & FA_EV_WRITE) && (old_events & FA_EV_WRITE))
        EV_SET(&ch[n++], fd, EVFILT_WRITE, EV_DELETE, 0, 0, data);
    return n ? kevent(loop->kq, ch, n, NULL, 0, NULL) : 0;
}

int fa_loop_add(fa_loop *loop, int fd, uint32_t events, void *data)
{
    return fa_kq_change(loop, fd, 0, events, data);
}

int fa_loop_mod(fa_loop *loop, int fd, uint32_t old_events, uint32_t events, void *data)
{
    /* kqueue keys filters by (fd, filter): re-add the kept ones so their
     * udata is updated too. */
    if (fa_kq_change(loop, fd, old_events, 0, data) < 0)
        return -1;
    return fa_kq_change(loop, fd, 0, events, data);
}

int fa_loop_del(fa_loop *loop, int fd, uint32_t old_events)
{
    return fa_kq_change(loop, fd, old_events, 0, NULL);
}

int fa_loop_poll(fa_loop *loop, fa_event *out, int max, int timeout_ms)
{
    struct timespec ts, *tsp = NULL;
    if (max > (int)(sizeof(loop->evs) / sizeof(loop->evs[0])))
        max = (int)(sizeof(loop->evs) / sizeof(loop->evs[0]));
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        tsp = &ts;
    }
    int n = kevent(loop->kq, NULL, 0, loop->evs, max, tsp);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    /* kqueue reports read and write of one fd as two events; callers cope
     * with one event per filter. */
    for (int i = 0; i < n; i++) {
        uint32_t m = loop->evs[i].filter == EVFILT_WRITE ? FA_EV_WRITE : FA_EV_READ;
        if (loop->evs[i].flags & (EV_EOF | EV_ERROR))
            m |= FA_EV_ERROR | FA_EV_READ | FA_EV_HUP;
        out[i].data = loop->evs[i].udata;
        out[i].events = m;
    }
    return n;
}

const char *fa_loop_backend(void) { return "kqueue"; }
