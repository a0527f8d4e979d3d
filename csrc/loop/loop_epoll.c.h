/* loop_epoll.c.h - epoll backend of loop.h (included by loop.c only). */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

struct fa_loop {
    int epfd;
    struct epoll_event evs[256];
};

fa_loop *fa_loop_create(void)
{
    fa_loop *loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
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
    close(loop->epfd);
    free(loop);
}

static uint32_t fa_epoll_mask(uint32_t events)
{
    uint32_t m = 0;
    if (events & FA_EV_READ)
        m |= EPOLLIN | EPOLLRDHUP;
    if (events & FA_EV_WRITE)
        m |= EPOLLOUT;
    if (events & FA_EV_HUP)
        m |= EPOLLRDHUP;
    return m;
}

int fa_loop_add(fa_loop *loop, int fd, uint32_t events, void *data)
{
    struct epoll_event ev = {.events = fa_epoll_mask(events), .data.ptr = data};
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int fa_loop_mod(fa_loop *loop, int fd, uint32_t old_events, uint32_t events, void *data)
{
    (void)old_events;
    struct epoll_event ev = {.events = fa_epoll_mask(events), .data.ptr = data};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
}

int fa_loop_del(fa_loop *loop, int fd, uint32_t old_events)
{
    (void)old_events;
    struct epoll_event ev = {0};
    return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, &ev);
}

int fa_loop_poll(fa_loop *loop, fa_event *out, int max, int timeout_ms)
{
    if (max > (int)(sizeof(loop->evs) / sizeof(loop->evs[0])))
        max = (int)(sizeof(loop->evs) / sizeof(loop->evs[0]));
    int n = epoll_wait(loop->epfd, loop->evs, max, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        uint32_t e = loop->evs[i].events, m = 0;
        if (e & (EPOLLIN | EPOLLRDHUP))
            m |= FA_EV_READ;
        if (e & EPOLLOUT)
            m |= FA_EV_WRITE;
        if (e & (EPOLLERR | EPOLLHUP))
            m |= FA_EV_ERROR | FA_EV_READ;
        if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            m |= FA_EV_HUP;
        out[i].data = loop->evs[i].data.ptr;
        out[i].events = m;
    }
    return n;
}

const char *fa_loop_backend(void) { return "epoll"; }
