/* ws_load.c - WebSocket echo load for bench/ws.py (issue 11).
 *
 *   ws_load echo HOST PORT PATH CONNS SECONDS SIZE [WARMUP [COUNT]]
 *       CONNS connections each send a SIZE-byte masked text message, wait for
 *       its echo, and send the next (one in flight per connection); prints
 *       JSON with round trips per second over SECONDS after WARMUP (with
 *       COUNT > 0: stops after COUNT round trips, for instruction counts).
 *   ws_load idle HOST PORT PATH CONNS SECONDS
 *       opens CONNS WebSockets, prints "ready N" once all are open, holds them
 *       idle for SECONDS (answering pings), then closes them.
 *   ws_load broadcast HOST PORT PATH CONNS SECONDS SIZE [WARMUP [PUBPATH [WINDOW]]]
 *       CONNS subscribers on PATH, each waits for the server's first message
 *       (it says the subscriber is registered), then one publisher on PUBPATH
 *       (default /pub) sends SIZE-byte text messages that the server fans out
 *       to every subscriber.  At most WINDOW (default 8) published messages
 *       are not yet received by every subscriber (closed loop, so no server
 *       queues without bound); prints JSON with messages delivered to
 *       subscribers per second.
 *
 * One thread, epoll, no library: the client must not be what limits the
 * figure (a Python client would be).  Frames from the server are parsed only
 * as far as counting whole messages needs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    int open;           /* handshake done */
    char in[1 << 16];
    size_t in_len;
    size_t want;        /* echo bytes still to come for the message in flight */
    long got;           /* broadcast: data messages received */
} client;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dial(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Blocking handshake; returns 0 once the 101 head is read. */
static int handshake(client *c, const char *host, int port, const char *path)
{
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path, host, port);
    if (write_all(c->fd, req, (size_t)n) < 0)
        return -1;
    c->in_len = 0;
    for (;;) {
        ssize_t r = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len - 1);
        if (r <= 0)
            return -1;
        c->in_len += (size_t)r;
        c->in[c->in_len] = 0;
        char *end = strstr(c->in, "\r\n\r\n");
        if (end) {
            if (strncmp(c->in, "HTTP/1.1 101", 12) != 0)
                return -1;
            size_t head = (size_t)(end + 4 - c->in);
            memmove(c->in, c->in + head, c->in_len - head);
            c->in_len -= head;
            c->open = 1;
            return 0;
        }
    }
}

static size_t frame(uint8_t *out, uint8_t op, const uint8_t *data, size_t n)
{
    size_t h = 0;
    out[h++] = (uint8_t)(0x80 | op);
    if (n < 126) {
        out[h++] = (uint8_t)(0x80 | n);
    } else {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    }
    static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(out + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < n; i++)
        out[h + i] = data[i] ^ mask[i & 3];
    return h + n;
}

/* Consumes whole server frames from c->in.  Returns the number of data
 * messages completed; pings are answered. */
static int consume(client *c)
{
    int done = 0;
    size_t pos = 0;
    while (c->in_len - pos >= 2) {
        uint8_t *p = (uint8_t *)c->in + pos;
        uint8_t op = p[0] & 0x0F;
        uint64_t n = p[1] & 0x7F;
        size_t h = 2;
        if (n == 126) {
            if (c->in_len - pos < 4)
                break;
            n = ((uint64_t)p[2] << 8) | p[3];
            h = 4;
        } else if (n == 127) {
            if (c->in_len - pos < 10)
                break;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = (n << 8) | p[2 + i];
            h = 10;
        }
        if (c->in_len - pos < h + n)
            break;
        if (op == 0x9) { /* ping -> pong */
            uint8_t out[256];
            size_t k = frame(out, 0xA, p + h, n < 125 ? (size_t)n : 125);
            write_all(c->fd, (char *)out, k);
        } else if (op == 0x1 || op == 0x2) {
            if (p[0] & 0x80)
                done++;
        }
        pos += h + (size_t)n;
    }
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
    return done;
}

/* Blocking read until the subscriber's first data message (the server's
 * "registered" greeting) has arrived; it is not counted. */
static int wait_first(client *c)
{
    for (;;) {
        if (consume(c) > 0)
            return 0;
        ssize_t r = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
        if (r <= 0)
            return -1;
        c->in_len += (size_t)r;
    }
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: %s echo|idle|broadcast HOST PORT PATH CONNS SECONDS [SIZE [WARMUP]]\n", argv[0]);
        return 2;
    }
    int idle = strcmp(argv[1], "idle") == 0;
    int bcast = strcmp(argv[1], "broadcast") == 0;
    const char *pub_path = argc > 9 ? argv[9] : "/pub";
    long window = argc > 10 ? atol(argv[10]) : 8;
    long max_count = !bcast && argc > 9 ? atol(argv[9]) : 0;
    if (window < 1 || window > 1024)
        window = 8;
    const char *host = argv[2], *path = argv[4];
    int port = atoi(argv[3]), conns = atoi(argv[5]);
    double seconds = atof(argv[6]);
    size_t size = argc > 7 ? (size_t)atol(argv[7]) : 16;
    double warmup = argc > 8 ? atof(argv[8]) : 0.5;
    if (size > 60000)
        size = 60000;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    client *cs = calloc((size_t)conns, sizeof(client));
    if (cs == NULL)
        return 1;
    int ep = epoll_create1(0);
    for (int i = 0; i < conns; i++) {
        cs[i].fd = dial(host, port);
        if (cs[i].fd < 0 || handshake(&cs[i], host, port, path) < 0) {
            fprintf(stderr, "connection %d failed: %s\n", i, strerror(errno));
            return 1;
        }
        if (bcast && wait_first(&cs[i]) < 0) {
            fprintf(stderr, "subscriber %d got no first message\n", i);
            return 1;
        }
        fcntl(cs[i].fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    uint8_t *payload = malloc(size), *msg = malloc(size + 16);
    memset(payload, 'x', size);
    size_t msg_len = frame(msg, 0x1, payload, size);
    client pub = {.fd = -1};
    long *acks = calloc((size_t)window, sizeof(long)), published = 0, completed = 0;
    if (bcast) {
        pub.fd = dial(host, port);
        if (pub.fd < 0 || handshake(&pub, host, port, pub_path) < 0) {
            fprintf(stderr, "publisher failed: %s\n", strerror(errno));
            return 1;
        }
        fcntl(pub.fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &pub};
        epoll_ctl(ep, EPOLL_CTL_ADD, pub.fd, &ev);
        for (; published < window; published++)
            write_all(pub.fd, (char *)msg, msg_len);
    }
    if (idle) {
        printf("ready %d\n", conns);
        fflush(stdout);
    } else {
        for (int i = 0; i < conns; i++)
            write_all(cs[i].fd, (char *)msg, msg_len);
    }
    struct epoll_event evs[256];
    double t0 = now_s(), start = t0 + (idle ? 0 : warmup), stop = start + seconds;
    long counted = 0;
    int errors = 0;
    for (;;) {
        double t = now_s();
        if (t >= stop)
            break;
        int n = epoll_wait(ep, evs, 256, 50);
        for (int k = 0; k < n; k++) {
            client *c = evs[k].data.ptr;
            ssize_t r = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                continue;
            }
            c->in_len += (size_t)r;
            int done = consume(c);
            if (bcast) {
                if (c == &pub)
                    continue; /* the publisher's own socket: only pings */
                /* A subscriber receives the messages in order: its got-th
                 * message is published message number got. */
                for (int d = 0; d < done; d++) {
                    acks[c->got % window]++;
                    c->got++;
                    if (now_s() >= start)
                        counted++;
                }
                while (completed < published && acks[completed % window] == conns) {
                    acks[completed % window] = 0;
                    completed++;
                    write_all(pub.fd, (char *)msg, msg_len);
                    published++;
                }
                continue;
            }
            if (!idle) {
                for (int d = 0; d < done; d++) {
                    if (now_s() >= start)
                        counted++;
                    if (max_count > 0 && counted >= max_count)
                        stop = 0; /* done: no new message */
                    else
                        write_all(c->fd, (char *)msg, msg_len);
                }
            }
        }
    }
    double elapsed = now_s() - start;
    /* close frames, then the sockets */
    uint8_t cl[16];
    uint8_t code[2] = {0x03, 0xE8};
    size_t cl_len = frame(cl, 0x8, code, 2);
    for (int i = 0; i < conns; i++) {
        write_all(cs[i].fd, (char *)cl, cl_len);
        close(cs[i].fd);
    }
    if (pub.fd >= 0) {
        write_all(pub.fd, (char *)cl, cl_len);
        close(pub.fd);
    }
    if (bcast)
        printf("{\"delivered\": %ld, \"published\": %ld, \"seconds\": %.3f, \"per_second\": %.1f, "
               "\"errors\": %d}\n", counted, completed, elapsed, counted / elapsed, errors);
    else if (!idle)
        printf("{\"round_trips\": %ld, \"seconds\": %.3f, \"per_second\": %.1f, \"errors\": %d}\n", counted,
               elapsed, counted / elapsed, errors);
    else
        printf("{\"held\": %d, \"errors\": %d}\n", conns, errors);
    return errors ? 1 : 0;
}
