/* loop.h - the poller behind each worker's event loop.
 *
 * A deliberately small interface (in the manner of redis's ae): register a
 * file descriptor with a pointer, wait, get back (pointer, events) pairs.
 * The backend is chosen at compile time: loop_epoll.c.h on Linux,
 * loop_kqueue.c.h on BSD/macOS.  Level-triggered on both.
 */
#ifndef FA_LOOP_H
#define FA_LOOP_H

#include <stdint.h>

enum {
    FA_EV_READ = 1,
    FA_EV_WRITE = 2,
    FA_EV_ERROR = 4, /* hang-up or error; reported with READ too */
    FA_EV_HUP = 8,   /* interest: the peer shut down (without reading data);
                        reported with READ when the peer shut down or reset */
};

typedef struct fa_loop fa_loop;

typedef struct fa_event {
    void *data;
    uint32_t events;
} fa_event;

/* Returns a new poller, or NULL with errno set. */
fa_loop *fa_loop_create(void);
void fa_loop_destroy(fa_loop *loop);
/* `events` is a mask of FA_EV_READ / FA_EV_WRITE.  Return 0, or -1 with errno. */
int fa_loop_add(fa_loop *loop, int fd, uint32_t events, void *data);
int fa_loop_mod(fa_loop *loop, int fd, uint32_t old_events, uint32_t events, void *data);
int fa_loop_del(fa_loop *loop, int fd, uint32_t old_events);
/* Waits up to timeout_ms (-1: forever).  Returns the number of events stored
 * in out[0..max), 0 on timeout or EINTR, -1 on error. */
int fa_loop_poll(fa_loop *loop, fa_event *out, int max, int timeout_ms);
/* "epoll" or "kqueue". */
const char *fa_loop_backend(void);

#endif
