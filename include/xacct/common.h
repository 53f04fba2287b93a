/* SPDX-License-Identifier: MIT */
/*
 * Shared basics for every xacct module: the error list, result annotations,
 * container_of, and the allocation wrappers that abort on out-of-memory so no
 * caller has to handle a NULL from malloc.
 */
#ifndef XACCT_COMMON_H
#define XACCT_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define XACCT_MUSTCHECK __attribute__((warn_unused_result))
#define XACCT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define XACCT_UNUSED(x) ((void)(x))

/* Functions that unit tests reach into are static in normal builds and
 * visible when XACCT_UNIT_TESTING is defined. */
#ifdef XACCT_UNIT_TESTING
#define XACCT_STATIC
#else
#define XACCT_STATIC static
#endif

#define xacct_container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))

#define XACCT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A borrowed header (or any name/value pair); neither string is owned. */
typedef struct xacct_header {
    const char *name;
    const char *value;
} xacct_header_t;

/*
 * One list of errors for the whole project. Functions return 0 on success or
 * one of these negative values; xacct_strerror() names them.
 */
#define XACCT_ERRNO_MAP(X)                                                \
    X(NOMEM, "out of memory")                                             \
    X(INVAL, "invalid argument")                                          \
    X(PARSE, "malformed input")                                           \
    X(TOOBIG, "input exceeds its size limit")                             \
    X(NOTFOUND, "not found")                                              \
    X(EXISTS, "already exists")                                           \
    X(IO, "input/output error")                                           \
    X(CONFIG, "configuration error")                                      \
    X(HTTP, "HTTP transfer failed")                                       \
    X(TIMEOUT, "timed out")                                               \
    X(CANCELED, "canceled")                                               \
    X(CONNREFUSED, "connection refused")                                  \
    X(TLS, "TLS failure")                                                 \
    X(AWS, "AWS returned an error")                                       \
    X(THROTTLED, "throttled by AWS")                                      \
    X(ACCESSDENIED, "access denied")                                      \
    X(NOCREDS, "no AWS credentials available")                            \
    X(SIGNATURE, "signature verification failed")                         \
    X(CERT, "certificate rejected")                                       \
    X(FORBIDDEN, "not allowed by policy")                                 \
    X(REDIS, "Redis error")                                               \
    X(DISCONNECTED, "Redis disconnected")                                 \
    X(STATE, "invalid state transition")                                  \
    X(CRYPTO, "cryptographic library failure")                            \
    X(SHUTDOWN, "shutting down")                                          \
    X(AGAIN, "transient failure, try again")

enum {
    XACCT_OK = 0,
#define XACCT_ERR_ENUM(name, msg) XACCT_E##name,
    XACCT__ERR_BASE = -1000,
    XACCT_ERRNO_MAP(XACCT_ERR_ENUM)
#undef XACCT_ERR_ENUM
    XACCT__ERR_END
};

/* Returns a static description of an XACCT_E* code (or "success"). */
const char *xacct_strerror(int err);

/* Returns the symbolic name ("XACCT_EPARSE") of a code, for logs. */
const char *xacct_errname(int err);

/* Allocation wrappers: never return NULL; on failure they print file and line
 * and abort. Free with free(). */
#define xacct_malloc(n) xacct__malloc((n), __FILE__, __LINE__)
#define xacct_calloc(n, m) xacct__calloc((n), (m), __FILE__, __LINE__)
#define xacct_realloc(p, n) xacct__realloc((p), (n), __FILE__, __LINE__)
#define xacct_strdup(s) xacct__strdup((s), __FILE__, __LINE__)
#define xacct_strndup(s, n) xacct__strndup((s), (n), __FILE__, __LINE__)

void *xacct__malloc(size_t n, const char *file, int line);
void *xacct__calloc(size_t n, size_t m, const char *file, int line);
void *xacct__realloc(void *p, size_t n, const char *file, int line);
char *xacct__strdup(const char *s, const char *file, int line);
char *xacct__strndup(const char *s, size_t n, const char *file, int line);

/* printf into a fresh heap string (caller frees); aborts on OOM. */
char *xacct_asprintf(const char *fmt, ...) XACCT_PRINTF(1, 2);
/* The same with a va_list: ap is used up, and the caller still va_ends it. */
char *xacct_vasprintf(const char *fmt, va_list ap) XACCT_PRINTF(1, 0);

/* The strings up to the terminating NULL, joined into a fresh heap string
 * (caller frees); aborts on OOM. The cheap way to build a URL or a header
 * line on the message path, where printf's format parsing showed up. */
char *xacct_strjoin(const char *first, ...) __attribute__((sentinel));

/* Wipes then frees a secret string; NULL does nothing. */
void xacct_freezero(void *p, size_t n);
void xacct_free_secret(char *s);

#ifdef XACCT_UNIT_TESTING
/* Test seam: when set, sees every (p, n) xacct_freezero is given, just before
 * it is wiped, so a test can tell which data went through the wipe. */
extern void (*xacct__freezero_hook)(const void *p, size_t n);
#endif

#endif
