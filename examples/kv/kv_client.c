/*
 * kv_client: stores values on a kv_server anywhere in the mesh and reads
 * them back, checking every byte; prints round-trip latencies. Then asks
 * the server to expose each value as a region and reads it once more,
 * one-sidedly (syslink_region_read: the server process takes no part).
 *
 *   kv_client [-n NODE] [-s SERVICE] [-k KEYS] [-b BYTES] [-r ROUNDS]
 *
 * NODE "" (default) is this node; the service may be on any node the mesh
 * reaches. Exits 0 only if every value came back intact.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv.h"

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* One command with key KEY and DMA buffer BUF/LEN (flags say which way). */
static int call(int fd, uint64_t id, sl_cmd_t cmd, const char *key, void *buf, size_t len,
                union kv_msg *rep) {
  union kv_msg m;
  struct syslink_elm *par = sl_msg_init_cmd(&m.msg, KV_PROTO, cmd);
  if (key != NULL) {
    struct syslink_elm *e = sl_elm_make(par, KV_ELM_KEY, (int)strlen(key));
    memcpy(e + 1, key, strlen(key));
  }
  m.msg.sm_msgid = id;
  sl_msg_fini(&m.msg);
  struct iovec iov[2] = {{&m, SL_MSG_ALIGN(m.msg.sm_bytes)}, {buf, len}};
  if (syslink_writev(fd, iov, buf ? 2 : 1) < 0) return -errno;
  if (syslink_read(fd, rep, sizeof *rep) <= 0) return -EPIPE;
  return rep->msg.sm_head.se_aux;
}

int main(int argc, char **argv) {
  const char *node = "", *service = "kv";
  int keys = 16, rounds = 4;
  size_t bytes = 65536;
  int opt;
  while ((opt = getopt(argc, argv, "n:s:k:b:r:")) != -1) {
    switch (opt) {
      case 'n': node = optarg; break;
      case 's': service = optarg; break;
      case 'k': keys = atoi(optarg); break;
      case 'b': bytes = (size_t)atol(optarg); break;
      case 'r': rounds = atoi(optarg); break;
      default:
        fprintf(stderr, "usage: kv_client [-n NODE] [-s SERVICE] [-k KEYS] [-b BYTES] [-r ROUNDS]\n");
        return 2;
    }
  }
  if (bytes == 0 || bytes > SL_DMA_MAX || keys <= 0 || rounds <= 0) {
    fprintf(stderr, "kv_client: -b must be 1..%d, -k and -r positive\n", SL_DMA_MAX);
    return 2;
  }
  struct syslink_info_connect info = {0};
  info.head.version = SYSLINK_INFO_VERSION;
  snprintf(info.node, sizeof info.node, "%s", node);
  snprintf(info.service, sizeof info.service, "%s", service);
  info.timeout_ms = 5000;
  if (syslink(SYSLINK_CMD_CONNECT, &info.head, sizeof info) != 0) {
    fprintf(stderr, "kv_client: connect %s/%s: %s\n", *node ? node : "(this node)", service,
            strerror(errno));
    return 1;
  }
  unsigned char *out = syslink_dma_alloc(bytes), *in = syslink_dma_alloc(bytes);
  uint64_t *lat = calloc((size_t)(keys * rounds * 2), sizeof *lat);
  size_t nlat = 0;
  uint64_t id = 1, moved = 0;
  int bad = 0;
  union kv_msg rep;
  char key[32];
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < keys; k++) {
      snprintf(key, sizeof key, "key-%d", k);
      for (size_t i = 0; i < bytes; i++) out[i] = (unsigned char)(i * 131 + k * 7 + r);
      uint64_t t0 = now_ns();
      int err = call(info.fd, id++, KV_PUT | SE_CMDF_DMAW, key, out, bytes, &rep);
      uint64_t t1 = now_ns();
      memset(in, 0, bytes);
      int err2 = call(info.fd, id++, KV_GET | SE_CMDF_DMAR, key, in, bytes, &rep);
      uint64_t t2 = now_ns();
      if (err != 0 || err2 != 0) {
        fprintf(stderr, "kv_client: %s: %s\n", key, strerror(err ? (err < 0 ? -err : err)
                                                                   : (err2 < 0 ? -err2 : err2)));
        return 1;
      }
      if (syslink_dma_bytes() != bytes || memcmp(in, out, bytes) != 0) bad++;
      lat[nlat++] = t1 - t0;
      lat[nlat++] = t2 - t1;
      moved += 2 * bytes;
    }
  }
  /* One-sided: each value's region key, then a read of the region. */
  int exposed = 0;
  for (int k = 0; k < keys; k++) {
    snprintf(key, sizeof key, "key-%d", k);
    int err = call(info.fd, id++, KV_EXPOSE, key, NULL, 0, &rep);
    struct syslink_region_key rk;
    int have = 0;
    struct syslink_elm *e;
    if (err == 0 && (rep.msg.sm_head.se_cmd & SE_CMDF_STRUCTURED)) {
      SL_FOREACH_ELEMENT(&rep.msg.sm_head, e) {
        if ((e->se_cmd & SE_CMD_MASK) == KV_ELM_REGION && e->se_bytes - 8 == sizeof rk) {
          memcpy(&rk, e + 1, sizeof rk);
          have = 1;
        }
      }
    }
    if (!have) {
      fprintf(stderr, "kv_client: expose %s: %s\n", key, err ? strerror(err) : "no key");
      return 1;
    }
    memset(in, 0, bytes);
    if (syslink_region_read(&rk, 0, in, bytes) != (ssize_t)bytes) {
      fprintf(stderr, "kv_client: region read %s: %s\n", key, strerror(errno));
      return 1;
    }
    for (size_t i = 0; i < bytes; i++) {
      if (in[i] != (unsigned char)(i * 131 + k * 7 + (rounds - 1))) {
        bad++;
        break;
      }
    }
    exposed++;
  }
  uint64_t count = 0;
  if (call(info.fd, id++, KV_STAT, NULL, NULL, 0, &rep) == 0) {
    struct syslink_elm *e;
    SL_FOREACH_ELEMENT(&rep.msg.sm_head, e) { memcpy(&count, e + 1, 8); }
  }
  qsort(lat, nlat, sizeof *lat, cmp);
  struct syslink_stats st;
  syslink_get_stats(info.fd, &st);
  printf("kv_client: %zu round trips to %s/%s (session %016llx), %llu DMA bytes moved, "
         "%d bad values\n",
         nlat, *node ? node : "(this node)", service, (unsigned long long)st.sessid,
         (unsigned long long)moved, bad);
  printf("kv_client: latency p50 %.1f us, p99 %.1f us; server holds %llu keys\n",
         lat[nlat / 2] / 1e3, lat[nlat * 99 / 100] / 1e3, (unsigned long long)count);
  printf("kv_client: %d values read back one-sidedly from their regions, checked\n", exposed);
  syslink_close(info.fd);
  syslink_dma_free(out);
  syslink_dma_free(in);
  free(lat);
  return bad == 0 ? 0 : 1;
}
