/* malloc_count.c - an LD_PRELOAD shim that counts heap allocations.
 *
 * Counts calls to malloc, calloc, realloc, posix_memalign, aligned_alloc
 * and memalign in the whole process and publishes the running total in a
 * small shared file (FA_MALLOC_COUNT_FILE, default /dev/shm/fa_malloc_count)
 * so a benchmark can read it before and after a batch of requests and
 * divide.  The real allocator is found with dlsym(RTLD_NEXT); calls made
 * while dlsym itself allocates are served from a static scratch area.
 *
 *   cc -shared -fPIC -O2 -o malloc_count.so malloc_count.c -ldl
 *   LD_PRELOAD=./malloc_count.so python app.py
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void (*real_free)(void *);

static _Atomic uint64_t local_count;
static _Atomic uint64_t *counter = &local_count;
static int resolving;
static char scratch[65536];
static size_t scratch_used;

static void *scratch_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (scratch_used + n > sizeof(scratch))
        return NULL;
    void *p = scratch + scratch_used;
    scratch_used += n;
    return p;
}

static int in_scratch(void *p)
{
    return (char *)p >= scratch && (char *)p < scratch + sizeof(scratch);
}

__attribute__((constructor)) static void fa_count_init(void)
{
    resolving = 1;
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = dlsym(RTLD_NEXT, "memalign");
    real_free = dlsym(RTLD_NEXT, "free");
    resolving = 0;
    const char *path = getenv("FA_MALLOC_COUNT_FILE");
    int fd = open(path ? path : "/dev/shm/fa_malloc_count", O_RDWR | O_CREAT, 0644);
    if (fd >= 0 && ftruncate(fd, sizeof(uint64_t)) == 0) {
        void *m = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            counter = m;
            atomic_store(counter, 0);
        }
    }
    if (fd >= 0)
        close(fd);
}

#define COUNT() atomic_fetch_add_explicit(counter, 1, memory_order_relaxed)

void *malloc(size_t n)
{
    if (real_malloc == NULL)
        return scratch_alloc(n);
    COUNT();
    return real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    if (real_calloc == NULL) {
        void *p = scratch_alloc(a * b);
        if (p)
            memset(p, 0, a * b);
        return p;
    }
    COUNT();
    return real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    if (real_realloc == NULL || in_scratch(p)) {
        void *q = real_malloc ? real_malloc(n) : scratch_alloc(n);
        if (q && p) {
            size_t room = (size_t)(scratch + sizeof(scratch) - (char *)p);
            memcpy(q, p, n < room ? n : room);
        }
        return q;
    }
    COUNT();
    return real_realloc(p, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    COUNT();
    return real_posix_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    COUNT();
    return real_aligned_alloc(align, n);
}

void *memalign(size_t align, size_t n)
{
    COUNT();
    return real_memalign(align, n);
}

void free(void *p)
{
    if (p == NULL || in_scratch(p))
        return;
    real_free(p);
}
