/*
 * kv_server: a key-value service published on this node's meshd.
 *
 *   kv_server [SERVICE]       (default "kv"; SYSLINK_MESHD names meshd)
 *
 * Serves every session on one LISTEN descriptor: PUT stores the DMA data
 * under the key, GET sends it back with the reply, STAT counts keys,
 * EXPOSE registers the value as a read-only region and replies with its key.
 * Values live in syslink_dma_alloc() memory, so that they can be exposed;
 * replacing a value frees its buffer, which kills its region key.
 * Prints a line per session opened and closed (the notices).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

#define SLOTS 1024

struct entry {
  char key[KV_KEY_MAX];
  size_t len;
  unsigned char *value;
};

static struct entry table[SLOTS];
static uint64_t count;

static struct entry *find(const char *key, size_t klen, int create) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < klen; i++) h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
  for (size_t n = 0; n < SLOTS; n++) {
    struct entry *e = &table[(h + n) % SLOTS];
    if (e->value == NULL) {
      if (!create) return NULL;
      memcpy(e->key, key, klen);
      e->key[klen] = '\0';
      count++;
      return e;
    }
    if (strlen(e->key) == klen && memcmp(e->key, key, klen) == 0) return e;
  }
  return NULL;
}

int main(int argc, char **argv) {
  const char *service = argc > 1 ? argv[1] : "kv";
  signal(SIGPIPE, SIG_IGN);
  struct syslink_info_listen info = {0};
  info.head.version = SYSLINK_INFO_VERSION;
  snprintf(info.service, sizeof info.service, "%s", service);
  if (syslink(SYSLINK_CMD_LISTEN, &info.head, sizeof info) != 0) {
    fprintf(stderr, "kv_server: listen %s: %s\n", service, strerror(errno));
    return 1;
  }
  printf("kv_server: serving \"%s\"\n", service);
  fflush(stdout);
  static unsigned char data[SL_DMA_MAX] __attribute__((aligned(4096)));
  for (;;) {
    union kv_msg in, out;
    struct iovec iov[2] = {{&in, sizeof in}, {data, sizeof data}};
    ssize_t n = syslink_readv(info.fd, iov, 2);
    if (n <= 0) {
      fprintf(stderr, "kv_server: read: %s\n", n == 0 ? "end of file" : strerror(errno));
      return 1;
    }
    if (in.msg.sm_proto == (SMPROTO_NOTICE | SM_PROTO_REPLY)) {
      int what = in.msg.sm_head.se_cmd & SE_CMD_MASK;
      printf("kv_server: session %016llx %s%s%s\n", (unsigned long long)in.msg.sm_sessid,
             what == SL_NOTICE_SESSION_OPEN ? "opened" : "closed",
             what == SL_NOTICE_SESSION_OPEN ? "" : ": ",
             what == SL_NOTICE_SESSION_OPEN ? "" : strerror(in.msg.sm_head.se_aux));
      fflush(stdout);
      continue;
    }
    if (in.msg.sm_proto != KV_PROTO) continue; /* not ours: ignore */
    const char *key = NULL;
    size_t klen = 0;
    struct syslink_elm *e;
    if (in.msg.sm_head.se_cmd & SE_CMDF_STRUCTURED) {
      SL_FOREACH_ELEMENT(&in.msg.sm_head, e) {
        if ((e->se_cmd & SE_CMD_MASK) == KV_ELM_KEY && e->se_bytes - 8 < KV_KEY_MAX) {
          key = (const char *)(e + 1);
          klen = e->se_bytes - 8;
        }
      }
    }
    int error = 0;
    size_t back = 0;
    struct syslink_region_key region;
    struct syslink_elm *par;
    switch (in.msg.sm_head.se_cmd & SE_CMD_MASK) {
      case KV_PUT: {
        struct entry *slot = key ? find(key, klen, 1) : NULL;
        if (slot == NULL) {
          error = key ? ENOSPC : EINVAL;
          break;
        }
        size_t len = syslink_dma_bytes();
        unsigned char *v = syslink_dma_alloc(len ? len : 1);
        if (v == NULL) {
          error = ENOMEM;
          break;
        }
        memcpy(v, data, len);
        if (slot->value != NULL) syslink_dma_free(slot->value); /* its region goes too */
        slot->value = v;
        slot->len = len;
        break;
      }
      case KV_GET: {
        struct entry *slot = key ? find(key, klen, 0) : NULL;
        if (slot == NULL) {
          error = key ? ENOENT : EINVAL;
          break;
        }
        back = slot->len;
        memcpy(data, slot->value, back);
        break;
      }
      case KV_STAT:
        break;
      case KV_EXPOSE: {
        struct entry *slot = key ? find(key, klen, 0) : NULL;
        if (slot == NULL) {
          error = key ? ENOENT : EINVAL;
          break;
        }
        /* A value exposed again is a registration-cache hit: the same key. */
        if (syslink_region_register(slot->value, slot->len ? slot->len : 1, SL_REGION_READ,
                                    &region) != 0) {
          error = errno;
        }
        break;
      }
      default:
        error = EOPNOTSUPP;
    }
    par = sl_msg_init_reply(&in.msg, &out.msg, error);
    if ((in.msg.sm_head.se_cmd & SE_CMD_MASK) == KV_STAT) {
      e = sl_elm_make(par, KV_ELM_COUNT, 8);
      memcpy(e + 1, &count, 8);
    }
    if ((in.msg.sm_head.se_cmd & SE_CMD_MASK) == KV_EXPOSE && error == 0) {
      e = sl_elm_make(par, KV_ELM_REGION, (int)sizeof region);
      memcpy(e + 1, &region, sizeof region);
    }
    sl_msg_fini(&out.msg);
    struct iovec rep[2] = {{&out, SL_MSG_ALIGN(out.msg.sm_bytes)}, {data, back}};
    if (syslink_writev(info.fd, rep, back ? 2 : 1) < 0 && errno != EPIPE) {
      fprintf(stderr, "kv_server: reply: %s\n", strerror(errno));
    }
  }
}
