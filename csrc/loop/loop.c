/* loop.c - picks the poller backend for this platform. */
#include "loop.h"

#if defined(__linux__)
#include "loop_epoll.c.h"
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
#include "loop_kqueue.c.h"
#else
#error "no poller backend for this platform"
#endif
