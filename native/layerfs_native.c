/*
 * layerfs_native: small N-API addon exposing the Linux syscalls layerfs
 * needs and Node does not have (xattrs, mknod, nanosecond utimensat,
 * renameat2, umount2, sparse-aware / reflink file copy), and every path call
 * the daemon makes, resolved beneath the layer it belongs to.
 *
 * Convention: functions never throw for errno failures; they return a
 * negative errno (e.g. -2 for ENOENT) or a value >= 0 on success.  They
 * throw a TypeError only when an argument has the wrong type.
 * Nothing follows a symlink, and paths under a confined root never leave it
 * (see "confinement").
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <linux/openat2.h>

#include <node_api.h>

/* ---- constants that may be missing from older headers ------------------ */
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif
#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int)
#endif
#ifndef MNT_FORCE
#define MNT_FORCE 1
#endif
#ifndef MNT_DETACH
#define MNT_DETACH 2
#endif
#ifndef MNT_EXPIRE
#define MNT_EXPIRE 4
#endif
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 8
#endif
#ifndef XATTR_NAME_MAX
#define XATTR_NAME_MAX 255
#endif
#ifndef XATTR_SIZE_MAX
#define XATTR_SIZE_MAX 65536
#endif
#ifndef SYS_renameat2
#if defined(__x86_64__)
#define SYS_renameat2 316
#elif defined(__aarch64__)
#define SYS_renameat2 276
#endif
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_copy_file_range
#if defined(__x86_64__)
#define SYS_copy_file_range 326
#elif defined(__aarch64__)
#define SYS_copy_file_range 285
#endif
#endif

#define PATH_CAP 4096                  /* PATH_MAX incl. NUL */
/* A host path is a layer root plus a path in the mount, which may itself reach PATH_MAX (the
 * kernel's limit applies to what a caller passes, not to a file's depth below the mount). */
#define HOST_PATH_CAP (8 * PATH_CAP)
#define NAME_CAP (XATTR_NAME_MAX + 1)  /* xattr name incl. NUL */
#define COPY_BUF (1024 * 1024)         /* pread/pwrite fallback buffer */

/* ---- small N-API helpers ------------------------------------------------ */

#define NAPI_OK(call)                                                    \
  do {                                                                   \
    if ((call) != napi_ok) {                                             \
      napi_throw_error(env, NULL, "layerfs_native: N-API call failed");  \
      return NULL;                                                       \
    }                                                                    \
  } while (0)

static napi_value mk_int(napi_env env, int64_t v) {
  napi_value r = NULL;
  napi_create_int64(env, v, &r);
  return r;
}

static napi_value mk_double(napi_env env, double v) {
  napi_value r = NULL;
  napi_create_double(env, v, &r);
  return r;
}

static bool type_err(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return false;
}

static bool get_args(napi_env env, napi_callback_info info, size_t want,
                     napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
    return type_err(env, "layerfs_native: bad arguments");
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  return true;
}

/*
 * Copy a JS string into buf.  Returns false (with a pending TypeError) if v
 * is not a string.  Otherwise returns true and sets *rc to 0, or to a
 * negative errno if the string is too long (toolong) or has an embedded NUL
 * (-EINVAL; it would otherwise silently truncate the path).
 */
static bool get_str(napi_env env, napi_value v, char *buf, size_t cap,
                    int toolong, const char *msg, int *rc) {
  napi_valuetype t;
  size_t len = 0, got = 0;
  *rc = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string)
    return type_err(env, msg);
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok)
    return type_err(env, msg);
  if (len >= cap) { *rc = -toolong; return true; }
  if (napi_get_value_string_utf8(env, v, buf, cap, &got) != napi_ok)
    return type_err(env, msg);
  if (strlen(buf) != got) *rc = -EINVAL;
  return true;
}

static bool get_num(napi_env env, napi_value v, double *out, const char *msg) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number)
    return type_err(env, msg);
  napi_get_value_double(env, v, out);
  return true;
}

static bool get_i32(napi_env env, napi_value v, int32_t *out, const char *msg) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number)
    return type_err(env, msg);
  napi_get_value_int32(env, v, out);
  return true;
}

static bool get_u32(napi_env env, napi_value v, uint32_t *out, const char *msg) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number)
    return type_err(env, msg);
  napi_get_value_uint32(env, v, out);
  return true;
}

/* Buffer or any TypedArray / DataView -> pointer + byte length. */
static bool get_bytes(napi_env env, napi_value v, void **data, size_t *len,
                      const char *msg) {
  bool is = false;
  if (napi_is_buffer(env, v, &is) == napi_ok && is) {
    if (napi_get_buffer_info(env, v, data, len) != napi_ok) return type_err(env, msg);
    return true;
  }
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type tt;
    size_t n, off;
    napi_value ab;
    void *p;
    if (napi_get_typedarray_info(env, v, &tt, &n, &p, &ab, &off) != napi_ok)
      return type_err(env, msg);
    size_t esz = 1;
    switch (tt) {
      case napi_int16_array: case napi_uint16_array: esz = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: esz = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: esz = 8; break;
      default: esz = 1;
    }
    *data = p;
    *len = n * esz;
    return true;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    napi_value ab;
    size_t off;
    if (napi_get_dataview_info(env, v, len, data, &ab, &off) != napi_ok)
      return type_err(env, msg);
    return true;
  }
  return type_err(env, msg);
}

static bool get_f64out(napi_env env, napi_value v, double **out, const char *msg) {
  bool is = false;
  napi_typedarray_type tt;
  size_t n, off;
  napi_value ab;
  void *p;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return type_err(env, msg);
  if (napi_get_typedarray_info(env, v, &tt, &n, &p, &ab, &off) != napi_ok ||
      tt != napi_float64_array || n < 16)
    return type_err(env, msg);
  *out = (double *)p;
  return true;
}

#define PATH_ARG(idx, var)                                                   \
  char var[HOST_PATH_CAP];                                                   \
  do {                                                                       \
    int rc_;                                                                 \
    if (!get_str(env, argv[idx], var, sizeof var, ENAMETOOLONG,              \
                 "layerfs_native: path must be a string", &rc_))             \
      return NULL;                                                           \
    if (rc_) return mk_int(env, rc_);                                        \
  } while (0)

#define NAME_ARG(idx, var)                                                   \
  char var[NAME_CAP];                                                        \
  do {                                                                       \
    int rc_;                                                                 \
    if (!get_str(env, argv[idx], var, sizeof var, ERANGE,                    \
                 "layerfs_native: xattr name must be a string", &rc_))       \
      return NULL;                                                           \
    if (rc_) return mk_int(env, rc_);                                        \
  } while (0)

#define FD_ARG(idx, var)                                                     \
  int32_t var;                                                               \
  if (!get_i32(env, argv[idx], &var, "layerfs_native: fd must be a number")) \
    return NULL

#define RET_RC(expr) return mk_int(env, (expr) < 0 ? -errno : 0)

/* ---- confinement ---------------------------------------------------------
 * The daemon runs as root over directories that other people can change while
 * it is mounted.  A path under a registered root (a layer, the workdir, a
 * volume) is never resolved by the kernel from "/": its parent is opened from
 * the root's directory fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_XDEV) and the last name is handled by the *at call without
 * following.  A component swapped for a symlink, a mount or a ".." then fails
 * (ELOOP, EXDEV) instead of leading out of the layer.  Paths under no root
 * (the CLI, the store) are used as given.
 */

typedef struct {
  char *path;
  size_t len;
  int fd;
} root_t;

static root_t *roots = NULL;
static size_t nroots = 0;

static int root_cmp(const void *a, const void *b) {
  const root_t *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->path, y->path, n);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The deepest registered root that is path itself or one of its directories. */
static const root_t *root_of(const char *path) {
  size_t end = strlen(path);
  while (end > 0) {
    root_t key = {(char *)path, end, -1};
    const root_t *r = bsearch(&key, roots, nroots, sizeof *roots, root_cmp);
    if (r) return r;
    while (end > 0 && path[end - 1] != '/') end--;
    if (end > 1) end--; /* drop the slash, but keep "/" itself as a candidate */
    else if (end == 1) {
      root_t top = {"/", 1, -1};
      return bsearch(&top, roots, nroots, sizeof *roots, root_cmp);
    }
  }
  return NULL;
}

static void drop_roots(void) {
  for (size_t i = 0; i < nroots; i++) {
    close(roots[i].fd);
    free(roots[i].path);
  }
  free(roots);
  roots = NULL;
  nroots = 0;
}

/* Where a path's last name lives: a directory fd (or AT_FDCWD) and the name. */
typedef struct {
  int dirfd;
  bool owned;
  const char *base;
} at_t;

static int open_beneath(int rootfd, const char *rel, int flags) {
  struct open_how how = {
      .flags = (uint64_t)(flags | O_CLOEXEC),
      .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV,
  };
  for (int tries = 0;; tries++) {
    long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
    /* EAGAIN: a concurrent rename elsewhere; the kernel asks for a retry. */
    if (fd >= 0 || errno != EAGAIN || tries == 8) return fd < 0 ? -errno : (int)fd;
  }
}

/*
 * Opens the directory rel (modified in place) beneath rootfd, in steps of less than PATH_MAX
 * when it is longer: each step is confined beneath the directory the previous one opened.
 */
static int open_dir_beneath(int rootfd, char *rel) {
  int fd = rootfd;
  size_t len = strlen(rel);
  while (len >= PATH_CAP) {
    char *cut = memrchr(rel, '/', PATH_CAP - 1);
    if (cut == NULL || cut == rel) {
      if (fd != rootfd) close(fd);
      return -ENAMETOOLONG;
    }
    *cut = '\0';
    int next = open_beneath(fd, rel, O_PATH | O_DIRECTORY);
    if (fd != rootfd) close(fd);
    if (next < 0) return next;
    fd = next;
    len -= (size_t)(cut + 1 - rel);
    rel = cut + 1;
  }
  int last = open_beneath(fd, rel, O_PATH | O_DIRECTORY);
  if (fd != rootfd) close(fd);
  return last;
}

static int at_open(const char *path, at_t *at) {
  const root_t *r = nroots > 0 ? root_of(path) : NULL;
  at->owned = false;
  if (r == NULL) {
    at->dirfd = AT_FDCWD;
    at->base = path;
    return 0;
  }
  const char *rel = path + r->len;
  if (*rel == '/') rel++;
  if (*rel == '\0') {
    at->dirfd = r->fd;
    at->base = ".";
    return 0;
  }
  const char *slash = strrchr(rel, '/');
  at->base = slash ? slash + 1 : rel;
  if (at->base[0] == '\0' || strcmp(at->base, ".") == 0 || strcmp(at->base, "..") == 0)
    return -EINVAL;
  if (slash == NULL) {
    at->dirfd = r->fd;
    return 0;
  }
  char parent[HOST_PATH_CAP];
  memcpy(parent, rel, (size_t)(slash - rel));
  parent[slash - rel] = '\0';
  int fd = open_dir_beneath(r->fd, parent);
  if (fd < 0) return fd;
  at->dirfd = fd;
  at->owned = true;
  return 0;
}

/* Closes what at_open opened and turns a syscall result into the JS return value. */
static napi_value at_done(napi_env env, at_t *at, long r) {
  int e = errno;
  if (at->owned) close(at->dirfd);
  return mk_int(env, r < 0 ? -e : r);
}

static int at_open2(const char *a, at_t *x, const char *b, at_t *y) {
  int rc = at_open(a, x);
  if (rc == 0 && (rc = at_open(b, y)) != 0 && x->owned) close(x->dirfd);
  return rc;
}

static napi_value at_done2(napi_env env, at_t *x, at_t *y, long r) {
  int e = errno;
  if (y->owned) close(y->dirfd);
  errno = e;
  return at_done(env, x, r);
}

/* A path for the *xattr calls, which have no *at form before Linux 6.13. */
static const char *at_path(const at_t *at, char *buf) {
  if (at->dirfd == AT_FDCWD) return at->base;
  snprintf(buf, PATH_CAP, "/proc/self/fd/%d/%s", at->dirfd, at->base);
  return buf;
}

/* The path buffer lives in the function's scope: var.base points into it. */
#define AT_ARG(idx, var)                                                     \
  PATH_ARG(idx, var##_p);                                                    \
  at_t var;                                                                  \
  do {                                                                       \
    int rc_ = at_open(var##_p, &var);                                        \
    if (rc_) return mk_int(env, rc_);                                        \
  } while (0)

/* confine(roots: string[]): the directories nothing may leave from now on (replaces the set). */
static napi_value n_confine(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint32_t n = 0;
  bool is = false;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (napi_is_array(env, argv[0], &is) != napi_ok || !is ||
      napi_get_array_length(env, argv[0], &n) != napi_ok) {
    type_err(env, "layerfs_native: roots must be an array of strings");
    return NULL;
  }
  drop_roots();
  roots = calloc(n ? n : 1, sizeof *roots);
  if (!roots) return mk_int(env, -ENOMEM);
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    if (napi_get_element(env, argv[0], i, &v) != napi_ok) return NULL;
    char p[PATH_CAP];
    int rc = 0, fd = -1;
    if (!get_str(env, v, p, sizeof p, ENAMETOOLONG, "layerfs_native: roots must be strings", &rc)) {
      drop_roots();
      return NULL;
    }
    if (rc == 0) {
      fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) rc = -errno;
    }
    if (rc != 0) {
      drop_roots();
      return mk_int(env, rc);
    }
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/') len--;
    roots[nroots].path = strndup(p, len);
    roots[nroots].len = len;
    roots[nroots].fd = fd;
    nroots++;
  }
  qsort(roots, nroots, sizeof *roots, root_cmp);
  return mk_int(env, 0);
}

/* ---- stat --------------------------------------------------------------- */

static void fill_stat(double *o, const struct stat *st) {
  o[0] = (double)st->st_mode;
  o[1] = (double)st->st_uid;
  o[2] = (double)st->st_gid;
  o[3] = (double)st->st_size;
  o[4] = (double)st->st_dev;
  o[5] = (double)st->st_nlink;
  o[6] = (double)st->st_ino;
  o[7] = (double)st->st_rdev;
  o[8] = (double)st->st_blksize;
  o[9] = (double)st->st_blocks;
  o[10] = (double)st->st_atim.tv_sec;
  o[11] = (double)st->st_atim.tv_nsec;
  o[12] = (double)st->st_mtim.tv_sec;
  o[13] = (double)st->st_mtim.tv_nsec;
  o[14] = (double)st->st_ctim.tv_sec;
  o[15] = (double)st->st_ctim.tv_nsec;
}

#define STAT_OUT_MSG "layerfs_native: out must be a Float64Array of length >= 16"

static napi_value n_lstat(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  double *out;
  struct stat st;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_f64out(env, argv[1], &out, STAT_OUT_MSG)) return NULL;
  AT_ARG(0, at);
  long r = fstatat(at.dirfd, at.base, &st, AT_SYMLINK_NOFOLLOW);
  if (r == 0) fill_stat(out, &st);
  return at_done(env, &at, r);
}

static napi_value n_fstat(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  double *out;
  struct stat st;
  if (!get_args(env, info, 2, argv)) return NULL;
  FD_ARG(0, fd);
  if (!get_f64out(env, argv[1], &out, STAT_OUT_MSG)) return NULL;
  if (fstat(fd, &st) < 0) return mk_int(env, -errno);
  fill_stat(out, &st);
  return mk_int(env, 0);
}

static napi_value n_devMajor(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  double d;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_num(env, argv[0], &d, "layerfs_native: dev must be a number")) return NULL;
  return mk_double(env, (double)major((dev_t)(uint64_t)d));
}

static napi_value n_devMinor(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  double d;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_num(env, argv[0], &d, "layerfs_native: dev must be a number")) return NULL;
  return mk_double(env, (double)minor((dev_t)(uint64_t)d));
}

static napi_value n_makeDev(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint32_t ma, mi;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_u32(env, argv[0], &ma, "layerfs_native: major must be a number")) return NULL;
  if (!get_u32(env, argv[1], &mi, "layerfs_native: minor must be a number")) return NULL;
  return mk_double(env, (double)makedev(ma, mi));
}

/* ---- xattrs ------------------------------------------------------------- */

/* which: 0 = path (l*), 1 = fd (f*) */
typedef struct {
  int is_fd;
  int fd;
  const char *path;
} target_t;

static ssize_t x_get(const target_t *t, const char *name, void *buf, size_t sz) {
  return t->is_fd ? fgetxattr(t->fd, name, buf, sz) : lgetxattr(t->path, name, buf, sz);
}

static ssize_t x_list(const target_t *t, char *buf, size_t sz) {
  return t->is_fd ? flistxattr(t->fd, buf, sz) : llistxattr(t->path, buf, sz);
}

static void free_cb(napi_env env, void *data, void *hint) { free(data); }

static napi_value do_getxattr(napi_env env, const target_t *t, const char *name) {
  for (int tries = 0; tries < 64; tries++) {
    ssize_t sz = x_get(t, name, NULL, 0);
    if (sz < 0) return mk_int(env, -errno);
    /* +1 slack so that a value growing by a little does not always ERANGE */
    size_t cap = (size_t)sz + 1;
    char *buf = malloc(cap);
    if (!buf) return mk_int(env, -ENOMEM);
    ssize_t n = x_get(t, name, buf, cap);
    if (n < 0) {
      int e = errno;
      free(buf);
      if (e == ERANGE) continue; /* value grew in between: retry */
      return mk_int(env, -e);
    }
    napi_value res;
    if (n == 0) {
      free(buf);
      NAPI_OK(napi_create_buffer(env, 0, NULL, &res));
      return res;
    }
    NAPI_OK(napi_create_external_buffer(env, (size_t)n, buf, free_cb, NULL, &res));
    return res;
  }
  return mk_int(env, -ERANGE);
}

static napi_value do_listxattr(napi_env env, const target_t *t) {
  char *buf = NULL;
  ssize_t n = -1;
  for (int tries = 0; tries < 64; tries++) {
    ssize_t sz = x_list(t, NULL, 0);
    if (sz < 0) return mk_int(env, -errno);
    size_t cap = (size_t)sz + 1;
    buf = malloc(cap);
    if (!buf) return mk_int(env, -ENOMEM);
    n = x_list(t, buf, cap);
    if (n >= 0) break;
    int e = errno;
    free(buf);
    buf = NULL;
    if (e != ERANGE) return mk_int(env, -e);
  }
  if (!buf) return mk_int(env, -ERANGE);
  napi_value arr;
  if (napi_create_array(env, &arr) != napi_ok) { free(buf); return NULL; }
  uint32_t idx = 0;
  ssize_t i = 0;
  while (i < n) {
    size_t l = strnlen(buf + i, (size_t)(n - i));
    if (l > 0) {
      napi_value s;
      if (napi_create_string_utf8(env, buf + i, l, &s) != napi_ok ||
          napi_set_element(env, arr, idx++, s) != napi_ok) {
        free(buf);
        return NULL;
      }
    }
    i += (ssize_t)l + 1;
  }
  free(buf);
  return arr;
}

static napi_value n_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char buf[PATH_CAP];
  if (!get_args(env, info, 2, argv)) return NULL;
  NAME_ARG(1, name);
  AT_ARG(0, at);
  target_t t = {0, -1, at_path(&at, buf)};
  napi_value res = do_getxattr(env, &t, name);
  if (at.owned) close(at.dirfd);
  return res;
}

static napi_value n_fgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  FD_ARG(0, fd);
  NAME_ARG(1, name);
  target_t t = {1, fd, NULL};
  return do_getxattr(env, &t, name);
}

static napi_value n_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char buf[PATH_CAP];
  if (!get_args(env, info, 1, argv)) return NULL;
  AT_ARG(0, at);
  target_t t = {0, -1, at_path(&at, buf)};
  napi_value res = do_listxattr(env, &t);
  if (at.owned) close(at.dirfd);
  return res;
}

static napi_value n_flistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  FD_ARG(0, fd);
  target_t t = {1, fd, NULL};
  return do_listxattr(env, &t);
}

#define VALUE_MSG "layerfs_native: value must be a Buffer or TypedArray"
#define FLAGS_MSG "layerfs_native: flags must be a number"

static napi_value n_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  void *data;
  size_t len;
  int32_t flags;
  if (!get_args(env, info, 4, argv)) return NULL;
  char buf[PATH_CAP];
  NAME_ARG(1, name);
  if (!get_bytes(env, argv[2], &data, &len, VALUE_MSG)) return NULL;
  if (!get_i32(env, argv[3], &flags, FLAGS_MSG)) return NULL;
  AT_ARG(0, at);
  return at_done(env, &at, lsetxattr(at_path(&at, buf), name, len ? data : "", len, flags));
}

static napi_value n_fsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  void *data;
  size_t len;
  int32_t flags;
  if (!get_args(env, info, 4, argv)) return NULL;
  FD_ARG(0, fd);
  NAME_ARG(1, name);
  if (!get_bytes(env, argv[2], &data, &len, VALUE_MSG)) return NULL;
  if (!get_i32(env, argv[3], &flags, FLAGS_MSG)) return NULL;
  RET_RC(fsetxattr(fd, name, len ? data : "", len, flags));
}

static napi_value n_lremovexattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  char buf[PATH_CAP];
  NAME_ARG(1, name);
  AT_ARG(0, at);
  return at_done(env, &at, lremovexattr(at_path(&at, buf), name));
}

static napi_value n_fremovexattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  FD_ARG(0, fd);
  NAME_ARG(1, name);
  RET_RC(fremovexattr(fd, name));
}

/* ---- mknod / utimensat / renameat2 / umount2 ---------------------------- */

static napi_value n_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t mode;
  double dev;
  if (!get_args(env, info, 3, argv)) return NULL;
  if (!get_u32(env, argv[1], &mode, "layerfs_native: mode must be a number")) return NULL;
  if (!get_num(env, argv[2], &dev, "layerfs_native: dev must be a number")) return NULL;
  AT_ARG(0, at);
  return at_done(env, &at, mknodat(at.dirfd, at.base, (mode_t)mode, (dev_t)(uint64_t)dev));
}

#define TIME_MSG "layerfs_native: times must be numbers"

static bool get_times(napi_env env, napi_value *a, struct timespec ts[2]) {
  double v[4];
  for (int i = 0; i < 4; i++)
    if (!get_num(env, a[i], &v[i], TIME_MSG)) return false;
  ts[0].tv_sec = (time_t)v[0];
  ts[0].tv_nsec = (long)v[1];
  ts[1].tv_sec = (time_t)v[2];
  ts[1].tv_nsec = (long)v[3];
  return true;
}

/* utimensat(path, ..., nofollow): the daemon always passes true; tests also need the following form. */
static napi_value n_utimensat(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  struct timespec ts[2];
  bool nofollow;
  if (!get_args(env, info, 6, argv)) return NULL;
  if (!get_times(env, argv + 1, ts)) return NULL;
  if (napi_get_value_bool(env, argv[5], &nofollow) != napi_ok) {
    type_err(env, "layerfs_native: nofollow must be a boolean");
    return NULL;
  }
  AT_ARG(0, at);
  return at_done(env, &at, utimensat(at.dirfd, at.base, ts, nofollow ? AT_SYMLINK_NOFOLLOW : 0));
}

static napi_value n_futimens(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  struct timespec ts[2];
  if (!get_args(env, info, 5, argv)) return NULL;
  FD_ARG(0, fd);
  if (!get_times(env, argv + 1, ts)) return NULL;
  RET_RC(futimens(fd, ts));
}

static napi_value n_renameat2(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t flags;
  at_t from, to;
  if (!get_args(env, info, 3, argv)) return NULL;
  PATH_ARG(0, oldp);
  PATH_ARG(1, newp);
  if (!get_u32(env, argv[2], &flags, FLAGS_MSG)) return NULL;
  int rc = at_open2(oldp, &from, newp, &to);
  if (rc) return mk_int(env, rc);
  return at_done2(env, &from, &to, syscall(SYS_renameat2, from.dirfd, from.base, to.dirfd, to.base, flags));
}

/* ---- confined replacements for node:fs path calls ------------------------ */

static napi_value n_open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t flags;
  uint32_t mode;
  if (!get_args(env, info, 3, argv)) return NULL;
  if (!get_i32(env, argv[1], &flags, FLAGS_MSG)) return NULL;
  if (!get_u32(env, argv[2], &mode, "layerfs_native: mode must be a number")) return NULL;
  AT_ARG(0, at);
  return at_done(env, &at, openat(at.dirfd, at.base, flags | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode));
}

static napi_value n_mkdir(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint32_t mode;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_u32(env, argv[1], &mode, "layerfs_native: mode must be a number")) return NULL;
  AT_ARG(0, at);
  return at_done(env, &at, mkdirat(at.dirfd, at.base, (mode_t)mode));
}

static napi_value n_unlink(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  AT_ARG(0, at);
  return at_done(env, &at, unlinkat(at.dirfd, at.base, 0));
}

static napi_value n_rmdir(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  AT_ARG(0, at);
  return at_done(env, &at, unlinkat(at.dirfd, at.base, AT_REMOVEDIR));
}

static napi_value n_symlink(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  PATH_ARG(0, target);
  AT_ARG(1, at);
  return at_done(env, &at, symlinkat(target, at.dirfd, at.base));
}

static napi_value n_link(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  at_t from, to;
  if (!get_args(env, info, 2, argv)) return NULL;
  PATH_ARG(0, oldp);
  PATH_ARG(1, newp);
  int rc = at_open2(oldp, &from, newp, &to);
  if (rc) return mk_int(env, rc);
  return at_done2(env, &from, &to, linkat(from.dirfd, from.base, to.dirfd, to.base, 0));
}

static napi_value n_lchown(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t uid, gid;
  if (!get_args(env, info, 3, argv)) return NULL;
  if (!get_u32(env, argv[1], &uid, "layerfs_native: uid must be a number")) return NULL;
  if (!get_u32(env, argv[2], &gid, "layerfs_native: gid must be a number")) return NULL;
  AT_ARG(0, at);
  return at_done(env, &at, fchownat(at.dirfd, at.base, uid, gid, AT_SYMLINK_NOFOLLOW));
}

/*
 * chmod without following the last name: Linux has no lchmod before fchmodat2
 * (6.6), so the object is pinned with O_PATH and changed through its procfs
 * link, which names that inode and nothing else.
 */
static napi_value n_chmod(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint32_t mode;
  struct stat st;
  char proc[64];
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_u32(env, argv[1], &mode, "layerfs_native: mode must be a number")) return NULL;
  AT_ARG(0, at);
  int fd = openat(at.dirfd, at.base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return at_done(env, &at, -1);
  long r = fstat(fd, &st);
  if (r == 0 && S_ISLNK(st.st_mode)) {
    errno = EOPNOTSUPP;
    r = -1;
  }
  if (r == 0) {
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    r = chmod(proc, (mode_t)mode);
  }
  int e = errno;
  close(fd);
  errno = e;
  return at_done(env, &at, r);
}

static napi_value n_readlink(napi_env env, napi_callback_info info) {
  napi_value argv[1], res;
  char target[PATH_CAP];
  if (!get_args(env, info, 1, argv)) return NULL;
  AT_ARG(0, at);
  ssize_t n = readlinkat(at.dirfd, at.base, target, sizeof target);
  if (n < 0 || n == (ssize_t)sizeof target) {
    if (n >= 0) errno = ENAMETOOLONG;
    return at_done(env, &at, -1);
  }
  if (at.owned) close(at.dirfd);
  if (napi_create_string_utf8(env, target, (size_t)n, &res) != napi_ok) return NULL;
  return res;
}

static bool is_dot(const char *nm) {
  return nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0'));
}

/*
 * readdir(path): [names, types] with the d_type of each name (DT_UNKNOWN
 * where the filesystem does not say), "." and ".." left out.
 */
static napi_value n_readdir(napi_env env, napi_callback_info info) {
  napi_value argv[1], names, types, res, s;
  if (!get_args(env, info, 1, argv)) return NULL;
  AT_ARG(0, at);
  int fd = openat(at.dirfd, at.base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return at_done(env, &at, -1);
  if (at.owned) close(at.dirfd);
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    int e = errno;
    close(fd);
    return mk_int(env, -e);
  }
  size_t cap = 256, n = 0;
  unsigned char *tv = malloc(cap);
  bool ok = tv != NULL && napi_create_array(env, &names) == napi_ok;
  struct dirent *de;
  while (ok) {
    errno = 0;
    de = readdir(d);
    if (de == NULL) break;
    const char *nm = de->d_name;
    if (is_dot(nm)) continue;
    if (n == cap) {
      unsigned char *grown = realloc(tv, cap *= 2);
      if (grown == NULL) { ok = false; break; }
      tv = grown;
    }
    tv[n] = de->d_type;
    ok = napi_create_string_utf8(env, nm, NAPI_AUTO_LENGTH, &s) == napi_ok &&
         napi_set_element(env, names, (uint32_t)n, s) == napi_ok;
    n++;
  }
  int e = ok ? errno : ENOMEM;
  closedir(d);
  if (e != 0) {
    free(tv);
    return mk_int(env, -e);
  }
  void *copy;
  ok = napi_create_buffer_copy(env, n, n ? tv : (void *)"", &copy, &types) == napi_ok &&
       napi_create_array_with_length(env, 2, &res) == napi_ok &&
       napi_set_element(env, res, 0, names) == napi_ok &&
       napi_set_element(env, res, 1, types) == napi_ok;
  free(tv);
  return ok ? res : NULL;
}

/* Removes name in dirfd and everything below it, never following a symlink. */
static int rm_at(int dirfd, const char *name, int depth) {
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return 0;
  if (errno != EISDIR) return -errno;
  if (depth > 256) return -ELOOP;
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -errno;
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    int e = errno;
    close(fd);
    return -e;
  }
  int rc = 0;
  struct dirent *de;
  while (rc == 0 && (de = readdir(d)) != NULL) {
    const char *nm = de->d_name;
    if (is_dot(nm)) continue;
    rc = rm_at(fd, nm, depth + 1);
  }
  closedir(d);
  if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) rc = -errno;
  return rc;
}

/* rmtree(path): rm -rf confined to the object's own tree; a missing path is no error. */
static napi_value n_rmtree(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  AT_ARG(0, at);
  int rc = rm_at(at.dirfd, at.base, 0);
  if (at.owned) close(at.dirfd);
  return mk_int(env, rc == -ENOENT ? 0 : rc);
}

static napi_value n_umount2(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t flags;
  if (!get_args(env, info, 2, argv)) return NULL;
  PATH_ARG(0, path);
  if (!get_i32(env, argv[1], &flags, FLAGS_MSG)) return NULL;
  RET_RC(umount2(path, flags));
}

/* ---- copyData (async) and copyDataSync ----------------------------------
 * Big files copy on the libuv pool so the loop keeps serving; a small file copies inline, since
 * the two thread hand-offs of a pool job cost more on this kind of VM than the copy itself. */

typedef struct {
  napi_async_work work;
  napi_ref cb;
  int src, dst;
  int err;          /* 0 or -errno */
  uint64_t bytes;   /* bytes of data written (holes excluded) */
} copy_job_t;

static int cfr_fallback_errno(int e) {
  return e == EXDEV || e == ENOSYS || e == EINVAL || e == EOPNOTSUPP ||
         e == ENOTSUP;
}

/* pread/pwrite copy of [off, end).  Returns 0 or -errno. */
static int rw_copy(int src, int dst, off_t off, off_t end, char **bufp,
                   uint64_t *bytes) {
  if (!*bufp) {
    *bufp = malloc(COPY_BUF);
    if (!*bufp) return -ENOMEM;
  }
  char *buf = *bufp;
  while (off < end) {
    size_t want = (size_t)(end - off) < COPY_BUF ? (size_t)(end - off) : COPY_BUF;
    ssize_t r = pread(src, buf, want, off);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (r == 0) break; /* source shrank */
    ssize_t w = 0;
    while (w < r) {
      ssize_t k = pwrite(dst, buf + w, (size_t)(r - w), off + w);
      if (k < 0) {
        if (errno == EINTR) continue;
        return -errno;
      }
      if (k == 0) return -EIO;
      w += k;
    }
    off += r;
    *bytes += (uint64_t)r;
  }
  return 0;
}

/* copy [off, end) with copy_file_range, switching to rw on fallback errors */
static int seg_copy(int src, int dst, off_t off, off_t end, bool *use_rw,
                    char **bufp, uint64_t *bytes) {
#ifdef SYS_copy_file_range
  while (!*use_rw && off < end) {
    loff_t in = off, out = off;
    size_t want = (uint64_t)(end - off) > (1u << 30) ? (1u << 30) : (size_t)(end - off);
    ssize_t r = syscall(SYS_copy_file_range, src, &in, dst, &out, want, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (cfr_fallback_errno(errno)) { *use_rw = true; break; }
      return -errno;
    }
    if (r == 0) return 0; /* source shrank: nothing more to copy */
    off += r;
    *bytes += (uint64_t)r;
  }
#else
  *use_rw = true;
#endif
  if (off < end) return rw_copy(src, dst, off, end, bufp, bytes);
  return 0;
}

static int copy_data(int src, int dst, uint64_t *bytes) {
  struct stat st;
  *bytes = 0;
  if (fstat(src, &st) < 0) return -errno;
  if (!S_ISREG(st.st_mode)) return -EINVAL;
  int fl = fcntl(dst, F_GETFL);
  if (fl < 0) return -errno;
  if (fl & O_APPEND) return -EINVAL; /* pwrite would ignore offsets */

  /* 1. reflink */
  if (ioctl(dst, FICLONE, src) == 0) {
    *bytes = (uint64_t)st.st_size;
    return 0;
  }

  /* 2. data segments */
  off_t size = st.st_size, off = 0;
  bool use_rw = false, no_seek = false;
  char *buf = NULL;
  int rc = 0;
  while (off < size) {
    off_t data, hole;
    if (no_seek) {
      data = off;
      hole = size;
    } else {
      data = lseek(src, off, SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) break; /* only a hole remains */
        if (errno == EINVAL || errno == EOPNOTSUPP) { no_seek = true; continue; }
        rc = -errno;
        break;
      }
      if (data >= size) break;
      hole = lseek(src, data, SEEK_HOLE);
      if (hole < 0 || hole > size) hole = size;
    }
    rc = seg_copy(src, dst, data, hole, &use_rw, &buf, bytes);
    if (rc < 0) break;
    off = hole;
  }
  free(buf);
  if (rc < 0) return rc;

  /* 3. size, so a trailing hole survives */
  while (ftruncate(dst, size) < 0) {
    if (errno != EINTR) return -errno;
  }
  return 0;
}

static void copy_execute(napi_env env, void *data) {
  copy_job_t *j = data;
  j->err = copy_data(j->src, j->dst, &j->bytes);
  if (j->err < 0) j->bytes = 0;
}

static void copy_complete(napi_env env, napi_status status, void *data) {
  copy_job_t *j = data;
  napi_value cb, global, args[2];
  if (status == napi_cancelled) { j->err = -ECANCELED; j->bytes = 0; }
  napi_create_int32(env, j->err, &args[0]);
  napi_create_double(env, (double)j->bytes, &args[1]);
  napi_get_reference_value(env, j->cb, &cb);
  napi_get_global(env, &global);
  napi_delete_reference(env, j->cb);
  napi_delete_async_work(env, j->work);
  free(j);
  if (cb) napi_call_function(env, global, cb, 2, args, NULL);
}

static napi_value n_copyData(napi_env env, napi_callback_info info) {
  napi_value argv[3], name;
  napi_valuetype t;
  if (!get_args(env, info, 3, argv)) return NULL;
  FD_ARG(0, src);
  FD_ARG(1, dst);
  if (napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function) {
    type_err(env, "layerfs_native: callback must be a function");
    return NULL;
  }
  copy_job_t *j = calloc(1, sizeof *j);
  if (!j) {
    napi_throw_error(env, NULL, "layerfs_native: out of memory");
    return NULL;
  }
  j->src = src;
  j->dst = dst;
  if (napi_create_reference(env, argv[2], 1, &j->cb) != napi_ok) {
    free(j);
    napi_throw_error(env, NULL, "layerfs_native: napi_create_reference failed");
    return NULL;
  }
  napi_create_string_utf8(env, "layerfs_native.copyData", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, copy_execute, copy_complete, j,
                             &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    if (j->work) napi_delete_async_work(env, j->work);
    napi_delete_reference(env, j->cb);
    free(j);
    napi_throw_error(env, NULL, "layerfs_native: could not queue async work");
    return NULL;
  }
  return NULL; /* undefined */
}

/* copyDataSync(src, dst): bytes written (holes excluded) or -errno. */
static napi_value n_copyDataSync(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint64_t bytes = 0;
  if (!get_args(env, info, 2, argv)) return NULL;
  FD_ARG(0, src);
  FD_ARG(1, dst);
  int rc = copy_data(src, dst, &bytes);
  return rc < 0 ? mk_int(env, rc) : mk_double(env, (double)bytes);
}

/* ---- module init -------------------------------------------------------- */

static napi_value Init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"lstat", n_lstat},
      {"fstat", n_fstat},
      {"devMajor", n_devMajor},
      {"devMinor", n_devMinor},
      {"makeDev", n_makeDev},
      {"lgetxattr", n_lgetxattr},
      {"llistxattr", n_llistxattr},
      {"lsetxattr", n_lsetxattr},
      {"lremovexattr", n_lremovexattr},
      {"fgetxattr", n_fgetxattr},
      {"flistxattr", n_flistxattr},
      {"fsetxattr", n_fsetxattr},
      {"fremovexattr", n_fremovexattr},
      {"mknod", n_mknod},
      {"utimensat", n_utimensat},
      {"futimens", n_futimens},
      {"renameat2", n_renameat2},
      {"confine", n_confine},
      {"open", n_open},
      {"mkdir", n_mkdir},
      {"unlink", n_unlink},
      {"rmdir", n_rmdir},
      {"symlink", n_symlink},
      {"link", n_link},
      {"lchown", n_lchown},
      {"chmod", n_chmod},
      {"readlink", n_readlink},
      {"readdir", n_readdir},
      {"rmtree", n_rmtree},
      {"umount2", n_umount2},
      {"copyData", n_copyData},
      {"copyDataSync", n_copyDataSync},
  };
  static const struct {
    const char *name;
    double value;
  } consts[] = {
      {"XATTR_CREATE", XATTR_CREATE},
      {"XATTR_REPLACE", XATTR_REPLACE},
      {"UTIME_NOW", UTIME_NOW},
      {"UTIME_OMIT", UTIME_OMIT},
      {"RENAME_NOREPLACE", RENAME_NOREPLACE},
      {"RENAME_EXCHANGE", RENAME_EXCHANGE},
      {"RENAME_WHITEOUT", RENAME_WHITEOUT},
      {"MNT_FORCE", MNT_FORCE},
      {"MNT_DETACH", MNT_DETACH},
      {"MNT_EXPIRE", MNT_EXPIRE},
      {"UMOUNT_NOFOLLOW", UMOUNT_NOFOLLOW},
      {"XATTR_NAME_MAX", XATTR_NAME_MAX},
      {"XATTR_SIZE_MAX", XATTR_SIZE_MAX},
  };
  napi_value v, cobj;
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    NAPI_OK(napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &v));
    NAPI_OK(napi_set_named_property(env, exports, fns[i].name, v));
  }
  NAPI_OK(napi_create_object(env, &cobj));
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    NAPI_OK(napi_create_double(env, consts[i].value, &v));
    NAPI_OK(napi_set_named_property(env, exports, consts[i].name, v));
    NAPI_OK(napi_set_named_property(env, cobj, consts[i].name, v));
  }
  NAPI_OK(napi_object_freeze(env, cobj));
  NAPI_OK(napi_set_named_property(env, exports, "constants", cobj));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
