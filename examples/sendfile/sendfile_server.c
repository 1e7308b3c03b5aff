/*
 * sendfile_server: serves one file's bytes as DMAR replies, straight from
 * the page-mapping cache. Started by sendfile_client with one end of a
 * SYSLINK_CMD_NEW pair:
 *
 *   sendfile_server FD FILE [POOL_PAGES]
 *
 * Serves until the client closes its end, then prints its sfbuf
 * statistics on stderr and exits 0 (1 on an error of its own).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "examples/sendfile/sendfile_proto.h"
#include "syslink/sfbuf.h"
#include "syslink/syslink.h"

static size_t page_size;
static struct sl_page file_page; /* the file's identity; index varies */
static uint64_t file_size;

static int reply(int fd, const struct syslink_msg *cmd, int error,
                 const void *data, size_t len) {
  union sf_msg rep;
  sl_msg_init_reply(cmd, &rep.msg, error);
  sl_msg_fini(&rep.msg);
  struct iovec iov[2] = {{&rep, SL_MSG_ALIGN(rep.msg.sm_bytes)},
                         {(void *)data, len}};
  if (syslink_writev(fd, iov, len > 0 ? 2 : 1) < 0) {
    fprintf(stderr, "sendfile_server: reply: %s\n", strerror(errno));
    return -1;
  }
  return 0;
}

/* SF_CMD_READ: map the range's page and reply with its bytes. */
static int serve_read(int fd, const struct syslink_msg *cmd) {
  uint64_t off = 0;
  uint32_t len = 0;
  int have = 0;
  const struct syslink_elm *par = &cmd->sm_head;
  const struct syslink_elm *e;
  if (!(cmd->sm_head.se_cmd & SE_CMDF_DMAR)) return reply(fd, cmd, EINVAL, NULL, 0);
  if (par->se_cmd & SE_CMDF_STRUCTURED) {
    SL_FOREACH_ELEMENT(par, e) {
      if (e->se_cmd == SF_ELM_OFFSET) {
        memcpy(&off, e + 1, sizeof off);
        have |= 1;
      } else if (e->se_cmd == SF_ELM_LENGTH) {
        memcpy(&len, e + 1, sizeof len);
        have |= 2;
      }
    }
  }
  if (have != 3 || len == 0 || len > page_size || off % page_size + len > page_size) {
    return reply(fd, cmd, EINVAL, NULL, 0);
  }
  struct sl_page pg = file_page;
  pg.index = off / page_size;
  struct sl_sfbuf *sf = sl_sfbuf_alloc(&pg, 0); /* EINVAL past the end */
  if (sf == NULL) return reply(fd, cmd, errno, NULL, 0);
  int r;
  if (off >= file_size) {  /* within the last page, but past the end */
    r = reply(fd, cmd, EINVAL, NULL, 0);
  } else {
    const size_t n = off + len <= file_size ? len : (size_t)(file_size - off);
    /* The reply's data is the page mapping itself; it is copied into the
     * client's buffer before syslink_writev() returns. */
    r = reply(fd, cmd, 0, (const char *)sl_sfbuf_kva(sf) + off % page_size, n);
  }
  sl_sfbuf_free(sf);
  return r;
}

static int serve_stats(int fd, const struct syslink_msg *cmd) {
  struct sl_sfbuf_stats st;
  sl_sfbuf_stats(&st);
  union sf_msg rep;
  struct syslink_elm *par = sl_msg_init_reply(cmd, &rep.msg, 0);
  const uint64_t *fields = (const uint64_t *)&st;
  for (size_t i = 0; i < sizeof st / sizeof(uint64_t); i++) {
    struct syslink_elm *e = sl_elm_make(par, SF_ELM_STAT, 8);
    memcpy(e + 1, &fields[i], 8);
  }
  sl_msg_fini(&rep.msg);
  if (syslink_write(fd, &rep, SL_MSG_ALIGN(rep.msg.sm_bytes)) < 0) return -1;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: sendfile_server FD FILE [POOL_PAGES]\n");
    return 2;
  }
  const int fd = atoi(argv[1]);
  page_size = (size_t)sysconf(_SC_PAGESIZE);
  const int file = open(argv[2], O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (file < 0 || fstat(file, &st) != 0) {
    fprintf(stderr, "sendfile_server: %s: %s\n", argv[2], strerror(errno));
    return 1;
  }
  file_size = (uint64_t)st.st_size;
  if (sl_page_init(&file_page, file, 0) != 0) {
    fprintf(stderr, "sendfile_server: sl_page_init: %s\n", strerror(errno));
    return 1;
  }
  if (argc == 4 && sl_sfbuf_setmax((size_t)atol(argv[3])) != 0) {
    fprintf(stderr, "sendfile_server: sl_sfbuf_setmax: %s\n", strerror(errno));
    return 2;
  }
  for (;;) {
    union sf_msg m;
    const ssize_t n = syslink_read(fd, &m, sizeof m);
    if (n == 0) break; /* the client closed its end */
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "sendfile_server: read: %s\n", strerror(errno));
      return 1;
    }
    if (m.msg.sm_proto & SM_PROTO_REPLY) continue; /* we send no commands */
    int r;
    if (m.msg.sm_proto != SF_PROTO) {
      r = reply(fd, &m.msg, EPROTONOSUPPORT, NULL, 0);
    } else {
      switch (m.msg.sm_head.se_cmd & SE_CMD_MASK) {
        case SF_CMD_READ:
          r = serve_read(fd, &m.msg);
          break;
        case SF_CMD_STATS:
          r = serve_stats(fd, &m.msg);
          break;
        default:
          r = reply(fd, &m.msg, EOPNOTSUPP, NULL, 0);
      }
    }
    if (r != 0) return 1;
  }
  struct sl_sfbuf_stats s;
  sl_sfbuf_stats(&s);
  fprintf(stderr,
          "sendfile_server: sfbuf in_use=%llu peak=%llu max=%llu mapped=%llu "
          "hits=%llu misses=%llu recycles=%llu waits=%llu failures=%llu\n",
          (unsigned long long)s.in_use, (unsigned long long)s.peak,
          (unsigned long long)s.max, (unsigned long long)s.mapped,
          (unsigned long long)s.hits, (unsigned long long)s.misses,
          (unsigned long long)s.recycles, (unsigned long long)s.waits,
          (unsigned long long)s.failures);
  syslink_close(fd);
  return 0;
}
