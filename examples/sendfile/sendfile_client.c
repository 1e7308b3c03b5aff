/*
 * sendfile_client: starts sendfile_server on FILE over a SYSLINK_CMD_NEW
 * pair, reads the whole file through it with pipelined DMAR commands (one
 * page-sized or smaller range each), and checks every byte against the
 * file itself.
 *
 *   sendfile_client SERVER FILE [WINDOW [POOL_PAGES]]
 *
 * WINDOW (default 16) commands are in flight at once, each with its own
 * page of a syslink_dma_alloc() buffer (replies are then written straight
 * into it: one copy from the server's page mapping to here). POOL_PAGES
 * (default 64) is the server's sfbuf pool. The requests: every page in
 * order, 2000 random ranges within pages, every page in reverse order, and
 * two bad ranges that must be refused with EINVAL.
 *
 * Exit status: 0 all bytes verified, 1 a mismatch or an error, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "examples/sendfile/sendfile_proto.h"
#include "syslink/sfbuf.h"
#include "syslink/syslink.h"

struct request {
  uint64_t off;
  uint32_t len;
  int expect_error; /* 0, or the errno the server must reply */
};

static size_t page_size;

static int fail(const char *what) {
  fprintf(stderr, "sendfile_client: %s: %s\n", what, strerror(errno));
  return 1;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) { /* xorshift64 */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* The requests, in the order they are sent. */
static struct request *make_requests(uint64_t size, size_t *count) {
  const uint64_t pages = (size + page_size - 1) / page_size;
  const size_t n = (size_t)(2 * pages + 2000 + 2);
  struct request *r = calloc(n, sizeof *r);
  size_t k = 0;
  if (r == NULL) return NULL;
  for (uint64_t i = 0; i < pages; i++) {
    r[k++] = (struct request){i * page_size, (uint32_t)page_size, 0};
  }
  for (int i = 0; i < 2000; i++) {
    const uint64_t off = rng() % size;
    const uint64_t room = page_size - off % page_size;
    r[k++] = (struct request){off, (uint32_t)(1 + rng() % room), 0};
  }
  for (uint64_t i = pages; i-- > 0;) {
    r[k++] = (struct request){i * page_size, (uint32_t)page_size, 0};
  }
  /* Past the end (sl_sfbuf_alloc() refuses the page), and across a page. */
  r[k++] = (struct request){pages * page_size + page_size, 16, EINVAL};
  r[k++] = (struct request){page_size - 8, 16, EINVAL};
  *count = k;
  return r;
}

static int send_read(int fd, uint64_t msgid, const struct request *rq, void *slot) {
  union sf_msg m;
  struct syslink_elm *par = sl_msg_init_cmd(&m.msg, SF_PROTO, SF_CMD_READ | SE_CMDF_DMAR);
  struct syslink_elm *e = sl_elm_make(par, SF_ELM_OFFSET, 8);
  memcpy(e + 1, &rq->off, 8);
  e = sl_elm_make(par, SF_ELM_LENGTH, 4);
  memcpy(e + 1, &rq->len, 4);
  m.msg.sm_msgid = msgid;
  sl_msg_fini(&m.msg);
  struct iovec iov[2] = {{&m, SL_MSG_ALIGN(m.msg.sm_bytes)}, {slot, page_size}};
  return syslink_writev(fd, iov, 2) < 0 ? -1 : 0;
}

/* Asks for the server's sfbuf statistics. */
static int get_stats(int fd, struct sl_sfbuf_stats *st) {
  union sf_msg m;
  sl_msg_init_cmd(&m.msg, SF_PROTO, SF_CMD_STATS);
  m.msg.sm_msgid = UINT64_MAX;
  sl_msg_fini(&m.msg);
  if (syslink_write(fd, &m, SL_MSG_ALIGN(m.msg.sm_bytes)) < 0) return -1;
  if (syslink_read(fd, &m, sizeof m) <= 0) return -1;
  if (m.msg.sm_msgid != UINT64_MAX || m.msg.sm_head.se_aux != 0) return -1;
  uint64_t *fields = (uint64_t *)st;
  size_t i = 0;
  const struct syslink_elm *e;
  memset(st, 0, sizeof *st);
  if (m.msg.sm_head.se_cmd & SE_CMDF_STRUCTURED) {
    SL_FOREACH_ELEMENT(&m.msg.sm_head, e) {
      if (e->se_cmd == SF_ELM_STAT && i < sizeof *st / 8) memcpy(&fields[i++], e + 1, 8);
    }
  }
  return i == sizeof *st / 8 ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 5) {
    fprintf(stderr, "usage: sendfile_client SERVER FILE [WINDOW [POOL_PAGES]]\n");
    return 2;
  }
  const char *server = argv[1], *path = argv[2];
  const int window = argc > 3 ? atoi(argv[3]) : 16;
  const char *pool = argc > 4 ? argv[4] : "64";
  page_size = (size_t)sysconf(_SC_PAGESIZE);
  if (window < 1 || (size_t)window * page_size > SL_DMA_MAX * 16) {
    fprintf(stderr, "sendfile_client: WINDOW must be 1..%zu\n", SL_DMA_MAX * 16 / page_size);
    return 2;
  }
  const int file = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (file < 0 || fstat(file, &st) != 0) return fail(path);
  if (st.st_size == 0) {
    fprintf(stderr, "sendfile_client: %s is empty\n", path);
    return 2;
  }
  const uint64_t size = (uint64_t)st.st_size;

  /* The pair, and the server on its far end. */
  struct syslink_info_new info;
  memset(&info, 0, sizeof info);
  info.head.version = SYSLINK_INFO_VERSION;
  if (syslink(SYSLINK_CMD_NEW, &info.head, sizeof info) != 0) return fail("syslink");
  const pid_t pid = fork();
  if (pid < 0) return fail("fork");
  if (pid == 0) {
    char fdstr[16];
    fcntl(info.fds[1], F_SETFD, 0); /* keep it across exec */
    snprintf(fdstr, sizeof fdstr, "%d", info.fds[1]);
    execl(server, server, fdstr, path, pool, (char *)NULL);
    fprintf(stderr, "sendfile_client: exec %s: %s\n", server, strerror(errno));
    _exit(127);
  }
  syslink_close(info.fds[1]);
  const int fd = info.fds[0];

  size_t nreq = 0;
  struct request *req = make_requests(size, &nreq);
  char *buf = syslink_dma_alloc((size_t)window * page_size);
  int *free_slots = calloc((size_t)window, sizeof *free_slots);
  int *slot_of = calloc(nreq, sizeof *slot_of);
  char *want = malloc(page_size);
  if (req == NULL || buf == NULL || free_slots == NULL || slot_of == NULL || want == NULL) {
    return fail("memory");
  }
  int nfree = 0;
  for (int i = window - 1; i >= 0; i--) free_slots[nfree++] = i;

  size_t next = 0, done = 0;
  uint64_t verified = 0;
  int bad = 0;
  while (done < nreq && !bad) {
    /* Fill the window, then take one reply. */
    while (next < nreq && nfree > 0) {
      const int slot = free_slots[--nfree];
      slot_of[next] = slot;
      if (send_read(fd, next + 1, &req[next], buf + (size_t)slot * page_size) != 0) {
        return fail("write");
      }
      next++;
    }
    union sf_msg r;
    const ssize_t n = syslink_read(fd, &r, sizeof r);
    if (n <= 0) return fail(n == 0 ? "the server went away" : "read");
    const uint64_t k = r.msg.sm_msgid - 1;
    if (k >= next) {
      fprintf(stderr, "sendfile_client: reply to unknown msgid %llu\n",
              (unsigned long long)r.msg.sm_msgid);
      return 1;
    }
    const struct request *rq = &req[k];
    const char *got = buf + (size_t)slot_of[k] * page_size;
    const size_t got_len = syslink_dma_bytes();
    if (r.msg.sm_head.se_aux != rq->expect_error) {
      fprintf(stderr, "sendfile_client: [%llu, +%u): error %d, expected %d\n",
              (unsigned long long)rq->off, rq->len, r.msg.sm_head.se_aux, rq->expect_error);
      bad = 1;
    } else if (rq->expect_error == 0) {
      const size_t expect = rq->off + rq->len <= size ? rq->len : (size_t)(size - rq->off);
      if (got_len != expect || pread(file, want, expect, (off_t)rq->off) != (ssize_t)expect ||
          memcmp(got, want, expect) != 0) {
        fprintf(stderr, "sendfile_client: [%llu, +%u): %zu bytes differ from the file\n",
                (unsigned long long)rq->off, rq->len, got_len);
        bad = 1;
      }
      verified += expect;
    }
    free_slots[nfree++] = slot_of[k];
    done++;
  }

  struct sl_sfbuf_stats s;
  if (!bad && get_stats(fd, &s) != 0) return fail("stats");
  syslink_close(fd); /* the server reads end-of-file and exits */
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return fail("waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "sendfile_client: the server failed (status 0x%x)\n", status);
    return 1;
  }
  if (bad) return 1;
  printf("sendfile_client: %zu requests, %llu bytes verified; server sfbuf: "
         "hits %llu, misses %llu, recycles %llu, peak %llu of %llu, in use %llu\n",
         nreq, (unsigned long long)verified, (unsigned long long)s.hits,
         (unsigned long long)s.misses, (unsigned long long)s.recycles,
         (unsigned long long)s.peak, (unsigned long long)s.max,
         (unsigned long long)s.in_use);
  /* Every request is a hit or a miss, except the one refused before a
   * mapping (past the end) and the one refused before any (across). */
  if (s.hits + s.misses != nreq - 2 || s.misses == 0 || s.hits == 0 || s.in_use != 0) {
    fprintf(stderr, "sendfile_client: the server's statistics do not add up\n");
    return 1;
  }
  syslink_dma_free(buf);
  free(req);
  free(free_slots);
  free(slot_of);
  free(want);
  close(file);
  return 0;
}
