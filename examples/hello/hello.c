/*
 * hello.c: the smallest complete syslink program, in plain C.
 *
 * A parent and a child share a SYSLINK_CMD_NEW pair. The parent sends a
 * command with a 128 KiB DMA buffer in both directions (DMAW|DMAR); the
 * child reads it, sums the bytes, writes a transformed buffer back with the
 * reply and exits; the parent checks everything.
 *
 *   cc hello.c $(pkg-config --cflags --libs syslink) -o hello && ./hello
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <syslink/syslink.h>

#define PROTO SM_PROTO_ENCODE(1000) /* applications use 64..4095 */
#define CMD_SUM 1
#define ELM_TEXT 1

union msgbuf {
  struct syslink_msg msg;
  char buf[SL_MAXSIZE];
};

static int child(int fd) {
  static unsigned char data[SL_DMA_MAX] __attribute__((aligned(4096)));
  union msgbuf in, out;
  struct iovec iov[2] = {{&in, sizeof in}, {data, sizeof data}};
  if (syslink_readv(fd, iov, 2) <= 0) return 1;
  /* The command: a text element and, out of band, the DMA data. */
  struct syslink_elm *e;
  SL_FOREACH_ELEMENT(&in.msg.sm_head, e) {
    if ((e->se_cmd & SE_CMD_MASK) == ELM_TEXT) {
      printf("child: got \"%.*s\" and %zu DMA bytes\n", (int)(e->se_bytes - 8),
             (char *)(e + 1), syslink_dma_bytes());
    }
  }
  uint64_t sum = 0;
  for (size_t i = 0; i < syslink_dma_bytes(); i++) {
    sum += data[i];
    data[i] = (unsigned char)~data[i];
  }
  /* The reply: se_aux carries the status (0), an element the sum, and the
   * inverted data goes back into the parent's buffer. */
  struct syslink_elm *par = sl_msg_init_reply(&in.msg, &out.msg, 0);
  e = sl_elm_make(par, 2 | SE_CMDF_ASIZE8, 8);
  memcpy(e + 1, &sum, 8);
  sl_msg_fini(&out.msg);
  struct iovec rep[2] = {{&out, SL_MSG_ALIGN(out.msg.sm_bytes)}, {data, SL_DMA_MAX}};
  fflush(stdout);
  return syslink_writev(fd, rep, 2) < 0;
}

int main(void) {
  struct syslink_info_new info = {0};
  info.head.version = SYSLINK_INFO_VERSION;
  if (syslink(SYSLINK_CMD_NEW, &info.head, sizeof info) != 0) {
    perror("syslink");
    return 1;
  }
  pid_t pid = fork();
  if (pid == 0) {
    syslink_close(info.fds[0]);
    _exit(child(info.fds[1]));
  }
  syslink_close(info.fds[1]);
  int fd = info.fds[0];

  /* A page-aligned buffer that the child can map instead of copying. */
  unsigned char *buf = syslink_dma_alloc(SL_DMA_MAX);
  uint64_t want = 0;
  for (size_t i = 0; i < SL_DMA_MAX; i++) {
    buf[i] = (unsigned char)(i * 31);
    want += buf[i];
  }
  union msgbuf cmd, rep;
  struct syslink_elm *par =
      sl_msg_init_cmd(&cmd.msg, PROTO, CMD_SUM | SE_CMDF_DMAW | SE_CMDF_DMAR);
  struct syslink_elm *e = sl_elm_make(par, ELM_TEXT, 5);
  memcpy(e + 1, "hello", 5);
  cmd.msg.sm_msgid = 1;
  sl_msg_fini(&cmd.msg);
  struct iovec iov[2] = {{&cmd, SL_MSG_ALIGN(cmd.msg.sm_bytes)}, {buf, SL_DMA_MAX}};
  if (syslink_writev(fd, iov, 2) < 0) {
    perror("syslink_writev");
    return 1;
  }
  /* The buffer must stay intact until the reply: it was not copied. */
  if (syslink_read(fd, &rep, sizeof rep) <= 0) {
    perror("syslink_read");
    return 1;
  }
  uint64_t sum = 0;
  SL_FOREACH_ELEMENT(&rep.msg.sm_head, e) { memcpy(&sum, e + 1, 8); }
  int ok = rep.msg.sm_head.se_aux == 0 && sum == want &&
           syslink_dma_bytes() == SL_DMA_MAX && (rep.msg.sm_head.se_cmd & SE_CMDF_DMAR);
  for (size_t i = 0; ok && i < SL_DMA_MAX; i++) ok = buf[i] == (unsigned char)~(i * 31);
  printf("parent: reply status %d, sum %llu (%s), %zu bytes back (%s)\n",
         rep.msg.sm_head.se_aux, (unsigned long long)sum, sum == want ? "right" : "WRONG",
         syslink_dma_bytes(), ok ? "all checked" : "WRONG");
  /* The child has exited: reading again gives end-of-file. */
  waitpid(pid, NULL, 0);
  syslink_dma_free(buf);
  syslink_close(fd);
  return ok ? 0 : 1;
}
