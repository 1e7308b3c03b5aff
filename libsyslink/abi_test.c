/*
 * The wire ABI of syslink.h, from a plain C program. Built twice: as C
 * (abi_test) and as C++ (abi_test_cxx), so the header stays usable from both.
 *
 * Every sl_msg_validate() rule has an accepted and a rejected case; rejected
 * messages must come back unchanged, and every message under test sits at the
 * very end of a heap block of exactly its size, so a read past BYTES is an
 * AddressSanitizer error under --config=asan.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syslink/syslink.h"

static int failures;

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,      \
              #cond);                                                       \
      failures++;                                                           \
    }                                                                       \
  } while (0)

#define CHECK_EQ(a, b)                                                      \
  do {                                                                      \
    long long va_ = (long long)(a), vb_ = (long long)(b);                   \
    if (va_ != vb_) {                                                       \
      fprintf(stderr, "%s:%d: CHECK_EQ failed: %s (%lld) != %s (%lld)\n",   \
              __FILE__, __LINE__, #a, va_, #b, vb_);                        \
      failures++;                                                           \
    }                                                                       \
  } while (0)

typedef union {
  struct syslink_msg msg;
  unsigned char buf[SL_MAXSIZE + 64];
} msgbuf_t;

/*
 * Validates a copy of BYTES bytes of SRC placed at the end of an exact-size
 * heap block. Checks that a rejection leaves the copy unchanged; on success
 * copies the (possibly swapped) result back into SRC.
 */
static int validate_exact(void *src, size_t bytes) {
  unsigned char *copy = (unsigned char *)malloc(bytes ? bytes : 1);
  unsigned char *orig = (unsigned char *)malloc(bytes ? bytes : 1);
  int err;
  memcpy(copy, src, bytes);
  memcpy(orig, src, bytes);
  err = sl_msg_validate(copy, bytes);
  if (err != 0) {
    CHECK(memcmp(copy, orig, bytes) == 0); /* a failure changes nothing */
  } else {
    memcpy(src, copy, bytes);
  }
  free(copy);
  free(orig);
  return err;
}

/* A command for protocol 100 with one 5-byte opaque element. */
static void build_simple(msgbuf_t *m) {
  struct syslink_elm *par, *e;
  memset(m, 0, sizeof *m);
  par = sl_msg_init_cmd(&m->msg, SM_PROTO_ENCODE(100), 7);
  e = sl_elm_make(par, 1, 5);
  memcpy(e + 1, "hello", 5);
  m->msg.sm_msgid = 42;
  sl_msg_fini(&m->msg);
}

static size_t len_of(const msgbuf_t *m) { return SL_MSG_ALIGN(m->msg.sm_bytes); }

/* Raw little-endian/native writers for hand-made messages. */
static void put16(unsigned char *p, size_t off, uint16_t v) { memcpy(p + off, &v, 2); }
static void put32(unsigned char *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }

/* Writes an element header at OFF in native order. */
static void put_elm(unsigned char *p, size_t off, uint16_t cmd, uint16_t bytes) {
  put16(p, off, cmd);
  put16(p, off + 2, bytes);
  put32(p, off + 4, 0);
}

/* A native message header: proto, sm_bytes, msgid 1. */
static void put_hdr(unsigned char *p, uint16_t proto, uint16_t sm_bytes) {
  uint64_t id = 1;
  memset(p, 0, 24);
  put16(p, 0, proto);
  put16(p, 2, sm_bytes);
  memcpy(p + 8, &id, 8);
}

static void test_layout(void) {
  CHECK_EQ(sizeof(struct syslink_elm), 8);
  CHECK_EQ(sizeof(struct syslink_msg), 32);
  CHECK_EQ(offsetof(struct syslink_msg, sm_head), 24);
  CHECK_EQ(offsetof(struct syslink_msg, sm_sessid), 16);
  CHECK_EQ(SL_MIN_MSG_SIZE, sizeof(struct syslink_msg));
  CHECK_EQ(SL_MIN_ELM_SIZE, sizeof(struct syslink_elm));
  CHECK_EQ(SL_MIN_PAD_SIZE, offsetof(struct syslink_msg, sm_msgid));
  CHECK_EQ(SL_DMA_MAX, 131072);
  CHECK_EQ(SL_MSG_ALIGN(0), 0);
  CHECK_EQ(SL_MSG_ALIGN(1), 8);
  CHECK_EQ(SL_MSG_ALIGN(8), 8);
  CHECK_EQ(SL_MSG_ALIGN(4095), 4096);
  CHECK_EQ(SE_CMDF_DMAR, 0x0800);
  CHECK_EQ(SE_CMDF_DMAW, 0x0400);
  CHECK_EQ(SE_CMDF_ASIZEMASK, SE_CMDF_DMAR | SE_CMDF_DMAW);
}

static void test_proto_encoding(void) {
  static unsigned char seen[65536];
  unsigned n;
  for (n = 0; n <= SM_PROTO_NUM_MAX; n++) {
    sl_proto_t p = SM_PROTO_ENCODE(n);
    CHECK_EQ(SM_PROTO_DECODE(p), n);
    CHECK_EQ(SM_PROTO_DECODE(p | SM_PROTO_REPLY), n);
    CHECK(p & SM_PROTO_ENDIAN_NORM);
    CHECK_EQ(p & (SM_PROTO_REPLY | SM_PROTO_RESERVED | SM_PROTO_ENDIAN_REV), 0);
    CHECK(!seen[p]); /* lossless: no two numbers share an encoding */
    seen[p] = 1;
  }
  CHECK_EQ(SMPROTO_PAD, 0x0100);
  CHECK_EQ(SMPROTO_BSDVFS, SM_PROTO_ENCODE(0x40));
  CHECK_EQ(SM_PROTO_DECODE(SMPROTO_BSDVFS), 0x40);
  /* The layout is rppppppx-ppppppx: high six bits at 14..9, low at 6..1. */
  CHECK_EQ(SM_PROTO_ENCODE(0xFC0), 0x7E00 | 0x0100);
  CHECK_EQ(SM_PROTO_ENCODE(0x03F), 0x007E | 0x0100);
}

static void test_helpers(void) {
  msgbuf_t m, r;
  struct syslink_elm *par, *s, *e;
  int count = 0;

  build_simple(&m);
  CHECK_EQ(m.msg.sm_bytes, 24 + 8 + 16);
  CHECK_EQ(validate_exact(&m, len_of(&m)), 0);
  CHECK_EQ(m.msg.sm_msgid, 42);

  /* Nested: head { a, push S { b(aux), c }, d }. */
  memset(&m, 0, sizeof m);
  par = sl_msg_init_cmd(&m.msg, SM_PROTO_ENCODE(200), 3);
  sl_elm_make(par, 1, 3);
  s = sl_elm_push(par, 2);
  sl_elm_make_aux(s, 3 | SE_CMDF_ASIZE0, -5);
  e = sl_elm_make(s, 4 | SE_CMDF_ASIZE8, 8);
  memcpy(e + 1, "12345678", 8);
  sl_elm_pop(par, s);
  sl_elm_make(par, 5 | SE_CMDF_ASIZE4, 4);
  sl_msg_fini(&m.msg);
  CHECK_EQ(par->se_cmd, 3 | SE_CMDF_STRUCTURED); /* made structured */
  CHECK_EQ(validate_exact(&m, len_of(&m)), 0);
  SL_FOREACH_ELEMENT(par, e) { count++; }
  CHECK_EQ(count, 3);
  count = 0;
  SL_FOREACH_ELEMENT(s, e) {
    CHECK(e->se_cmd == (3 | SE_CMDF_ASIZE0) || e->se_cmd == (4 | SE_CMDF_ASIZE8));
    count++;
  }
  CHECK_EQ(count, 2);

  /* A reply copies msgid, rlabel and sessid and sets both reply bits. */
  m.msg.sm_rlabel = 9;
  m.msg.sm_sessid = 0x1122334455667788ull;
  par = sl_msg_init_reply(&m.msg, &r.msg, ENOENT);
  sl_msg_fini(&r.msg);
  CHECK_EQ(r.msg.sm_msgid, m.msg.sm_msgid);
  CHECK_EQ(r.msg.sm_rlabel, 9);
  CHECK(r.msg.sm_sessid == 0x1122334455667788ull);
  CHECK(r.msg.sm_proto & SM_PROTO_REPLY);
  CHECK(r.msg.sm_head.se_cmd & SE_CMDF_REPLY);
  CHECK_EQ(r.msg.sm_head.se_aux, ENOENT);
  CHECK_EQ(SM_PROTO_DECODE(r.msg.sm_proto), 200);
  CHECK(par == &r.msg.sm_head);
  CHECK_EQ(validate_exact(&r, len_of(&r)), 0);
}

static void test_sizes(void) {
  msgbuf_t m;
  build_simple(&m);
  /* iov[0] larger than SL_MAXSIZE. */
  CHECK_EQ(sl_msg_validate(&m, SL_MAXSIZE + 8), EFBIG);
  /* sm_bytes larger than SL_MAXSIZE. */
  m.msg.sm_bytes = SL_MAXSIZE + 8;
  CHECK_EQ(validate_exact(&m, SL_MAXSIZE), EFBIG);
  /* The largest message is fine. */
  memset(&m, 0, sizeof m);
  sl_msg_init_cmd(&m.msg, SM_PROTO_ENCODE(100), 1);
  sl_elm_make(&m.msg.sm_head, 1, SL_MAXSIZE - 24 - 16);
  sl_msg_fini(&m.msg);
  CHECK_EQ(m.msg.sm_bytes, SL_MAXSIZE);
  CHECK_EQ(validate_exact(&m, SL_MAXSIZE), 0);
  /* Too short to hold a header. */
  CHECK_EQ(sl_msg_validate(&m, 0), EINVAL);
  CHECK_EQ(sl_msg_validate(&m, 4), EINVAL);
  CHECK_EQ(sl_msg_validate(NULL, 32), EINVAL);
  /* iov_len must be exactly SL_MSG_ALIGN(sm_bytes). */
  build_simple(&m);
  CHECK_EQ(validate_exact(&m, len_of(&m) + 8), EINVAL);
  CHECK_EQ(validate_exact(&m, len_of(&m) - 8), EINVAL);
  CHECK_EQ(validate_exact(&m, len_of(&m) - 1), EINVAL);
  m.msg.sm_bytes = 45; /* unaligned sm_bytes, aligned iov_len: fine */
  CHECK_EQ(validate_exact(&m, 48), 0);
}

static void test_endian_markers(void) {
  msgbuf_t m;
  build_simple(&m);
  m.msg.sm_proto &= ~SM_PROTO_ENDIAN_NORM; /* no marker */
  CHECK_EQ(validate_exact(&m, len_of(&m)), EINVAL);
  build_simple(&m);
  m.msg.sm_proto |= SM_PROTO_ENDIAN_REV; /* both markers */
  CHECK_EQ(validate_exact(&m, len_of(&m)), EINVAL);
}

static void test_pad(void) {
  msgbuf_t m;
  unsigned char *p = m.buf;
  memset(&m, 0xEE, sizeof m); /* payload of a PAD is never looked at */
  put16(p, 0, SMPROTO_PAD);
  put16(p, 2, 8);
  CHECK_EQ(validate_exact(p, 8), 0);
  put16(p, 2, 100);
  CHECK_EQ(validate_exact(p, 104), 0);
  put16(p, 2, 4); /* shorter than a PAD header */
  CHECK_EQ(validate_exact(p, 8), EINVAL);
  /* PAD with the reply bit is not a PAD, and protocol 0 is not allowed. */
  memset(&m, 0, sizeof m);
  put16(p, 0, SMPROTO_PAD | SM_PROTO_REPLY);
  put16(p, 2, 32);
  put_elm(p, 24, SE_CMDF_REPLY, 8);
  CHECK_EQ(validate_exact(p, 32), EINVAL);
  /* A reversed PAD: the header is swapped, the rest left alone. */
  memset(&m, 0xEE, sizeof m);
  put16(p, 0, __builtin_bswap16(SMPROTO_PAD));
  put16(p, 2, __builtin_bswap16(16));
  put32(p, 4, __builtin_bswap32(77));
  CHECK_EQ(validate_exact(p, 16), 0);
  CHECK_EQ(m.msg.sm_proto, SMPROTO_PAD);
  CHECK_EQ(m.msg.sm_bytes, 16);
  CHECK_EQ(m.msg.sm_rlabel, 77);
  CHECK_EQ(p[16], 0xEE);
}

static void test_header_rules(void) {
  msgbuf_t m;
  unsigned char *p = m.buf;
  /* A non-PAD message shorter than 32 bytes. */
  memset(&m, 0, sizeof m);
  put_hdr(p, SM_PROTO_ENCODE(100), 24);
  CHECK_EQ(validate_exact(p, 24), EINVAL);
  /* Reserved bit. */
  build_simple(&m);
  m.msg.sm_proto |= SM_PROTO_RESERVED;
  CHECK_EQ(validate_exact(&m, len_of(&m)), EINVAL);
  /* Reply bits must agree. */
  build_simple(&m);
  m.msg.sm_proto |= SM_PROTO_REPLY;
  CHECK_EQ(validate_exact(&m, len_of(&m)), EINVAL);
  build_simple(&m);
  m.msg.sm_head.se_cmd |= SE_CMDF_REPLY;
  CHECK_EQ(validate_exact(&m, len_of(&m)), EINVAL);
  build_simple(&m);
  m.msg.sm_proto |= SM_PROTO_REPLY;
  m.msg.sm_head.se_cmd |= SE_CMDF_REPLY;
  CHECK_EQ(validate_exact(&m, len_of(&m)), 0);
  /* Reserved protocols (1..63) are well-formed; policy is the transport's. */
  build_simple(&m);
  m.msg.sm_proto = SM_PROTO_ENCODE(1);
  CHECK_EQ(validate_exact(&m, len_of(&m)), 0);
}

static void test_element_bounds(void) {
  msgbuf_t m;
  unsigned char *p = m.buf;
  /* sm_head shorter than an element header. */
  memset(&m, 0, sizeof m);
  put_hdr(p, SM_PROTO_ENCODE(100), 32);
  put_elm(p, 24, 1, 4);
  CHECK_EQ(validate_exact(p, 32), EINVAL);
  /* sm_head longer than the message. */
  put_elm(p, 24, 1, 16);
  CHECK_EQ(validate_exact(p, 32), EINVAL);
  put_elm(p, 24, 1, 8);
  CHECK_EQ(validate_exact(p, 32), 0);
  /* A second top-level element that overruns sm_bytes. */
  memset(&m, 0, sizeof m);
  put_hdr(p, SM_PROTO_ENCODE(100), 48);
  put_elm(p, 24, 1, 8);
  put_elm(p, 32, 2, 24);
  CHECK_EQ(validate_exact(p, 48), EINVAL);
  put_elm(p, 32, 2, 16);
  CHECK_EQ(validate_exact(p, 48), 0);
  /* 1..7 stray bytes where an element should start. */
  memset(&m, 0, sizeof m);
  put_hdr(p, SM_PROTO_ENCODE(100), 36);
  put_elm(p, 24, 1, 8);
  CHECK_EQ(validate_exact(p, 40), EINVAL);
  /* A child with se_bytes < 8 inside a structured head. */
  memset(&m, 0, sizeof m);
  put_hdr(p, SM_PROTO_ENCODE(100), 40);
  put_elm(p, 24, 1 | SE_CMDF_STRUCTURED, 16);
  put_elm(p, 32, 2, 0);
  CHECK_EQ(validate_exact(p, 40), EINVAL);
  put_elm(p, 32, 2, 8);
  CHECK_EQ(validate_exact(p, 40), 0);
}

/*
 * DragonFly bug 1: the children of a structured element were bounded by the
 * parent's remaining budget, not by the element's own se_bytes. Here S says
 * it is 16 bytes (one 8-byte child) but its child claims 16: it fits the
 * message, not S.
 */
static void test_dragonfly_child_overrun(void) {
  msgbuf_t m;
  unsigned char *p = m.buf;
  memset(&m, 0, sizeof m);
  put_hdr(p, SM_PROTO_ENCODE(100), 64);
  put_elm(p, 24, 1 | SE_CMDF_STRUCTURED, 40); /* head: S and T */
  put_elm(p, 32, 2 | SE_CMDF_STRUCTURED, 16); /* S */
  put_elm(p, 40, 3, 16);                      /* S's child: overruns S */
  put_elm(p, 48, 4, 16);                      /* T */
  CHECK_EQ(validate_exact(p, 64), EINVAL);
  put_elm(p, 40, 3, 8); /* the child fits S: accepted */
  CHECK_EQ(validate_exact(p, 64), 0);
}

/*
 * DragonFly bug 2: the budget was a 16-bit sl_reclen_t decremented by each
 * child's aligned size, so a child ending on an unaligned boundary made it
 * wrap to ~65535 and the loop walked on past the element (and the buffer).
 * Here S is 20 bytes with one 12-byte child (aligned: 16 > 12 left), and S
 * is the last thing in an exact-size buffer.
 */
static void test_dragonfly_budget_wrap(void) {
  msgbuf_t m;
  unsigned char *p = m.buf;
  memset(&m, 0, sizeof m);
  put_hdr(p, SM_PROTO_ENCODE(100), 52);
  put_elm(p, 24, 1 | SE_CMDF_STRUCTURED, 28); /* head */
  put_elm(p, 32, 2 | SE_CMDF_STRUCTURED, 20); /* S */
  put_elm(p, 40, 3 | SE_CMDF_ASIZE4, 12);     /* child: 4 data bytes */
  CHECK_EQ(validate_exact(p, 56), 0);
  /* The same with garbage after S inside the buffer: still not parsed. */
  p[52] = 0xFF;
  p[53] = 0xFF;
  CHECK_EQ(validate_exact(p, 56), 0);
}

static void test_depth(void) {
  msgbuf_t m;
  struct syslink_elm *stack[SL_MAXDEPTH + 2];
  int levels, i;
  for (levels = SL_MAXDEPTH; levels <= SL_MAXDEPTH + 1; levels++) {
    memset(&m, 0, sizeof m);
    stack[0] = sl_msg_init_cmd(&m.msg, SM_PROTO_ENCODE(100),
                               1 | SE_CMDF_STRUCTURED);
    /* sm_head is the first structured level. */
    for (i = 1; i < levels; i++) stack[i] = sl_elm_push(stack[i - 1], 1);
    sl_elm_make_aux(stack[levels - 1], 2, 0);
    for (i = levels - 1; i >= 1; i--) sl_elm_pop(stack[i - 1], stack[i]);
    sl_msg_fini(&m.msg);
    CHECK_EQ(validate_exact(&m, len_of(&m)), levels <= SL_MAXDEPTH ? 0 : EINVAL);
  }
}

static void test_asize(void) {
  static const struct {
    uint16_t flag;
    int data;
    int ok;
  } cases[] = {
      {SE_CMDF_ASIZE0, 0, 1}, {SE_CMDF_ASIZE0, 4, 0}, {SE_CMDF_ASIZE4, 4, 1},
      {SE_CMDF_ASIZE4, 5, 0}, {SE_CMDF_ASIZE4, 8, 0}, {SE_CMDF_ASIZE8, 8, 1},
      {SE_CMDF_ASIZE8, 4, 0}, {SE_CMDF_ASIZEX, 13, 1},
  };
  size_t i;
  msgbuf_t m;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memset(&m, 0, sizeof m);
    sl_msg_init_cmd(&m.msg, SM_PROTO_ENCODE(100), 1);
    sl_elm_make(&m.msg.sm_head, (sl_cmd_t)(2 | cases[i].flag), cases[i].data);
    sl_msg_fini(&m.msg);
    CHECK_EQ(validate_exact(&m, len_of(&m)), cases[i].ok ? 0 : EINVAL);
  }
  /* In sm_head the same bits are DMAR/DMAW, not sizes. */
  memset(&m, 0, sizeof m);
  sl_msg_init_cmd(&m.msg, SM_PROTO_ENCODE(100), 1 | SE_CMDF_DMAR | SE_CMDF_DMAW);
  sl_elm_make(&m.msg.sm_head, 2, 13);
  sl_msg_fini(&m.msg);
  CHECK_EQ(validate_exact(&m, len_of(&m)), 0);
}

/*
 * A message laid out byte by byte the way a big-endian host writes it,
 * without using the validator's own swap code.
 */
static void be16(unsigned char *p, size_t off, uint16_t v) {
  p[off] = (unsigned char)(v >> 8);
  p[off + 1] = (unsigned char)v;
}
static void be32(unsigned char *p, size_t off, uint32_t v) {
  be16(p, off, (uint16_t)(v >> 16));
  be16(p, off + 2, (uint16_t)v);
}
static void be64(unsigned char *p, size_t off, uint64_t v) {
  be32(p, off, (uint32_t)(v >> 32));
  be32(p, off + 4, (uint32_t)v);
}

static void test_big_endian_message(void) {
  msgbuf_t m;
  unsigned char *p = m.buf;
  struct syslink_elm *par, *e;
  int n = 0;
  memset(&m, 0, sizeof m);
  /* head (structured, DMAW) { S { x: ASIZE4 = 0xDEADBEEF }, y: "abc" } */
  be16(p, 0, SM_PROTO_ENCODE(1234));
  be16(p, 2, 64);
  be32(p, 4, 0x01020304u);
  be64(p, 8, 0x1122334455667788ull);
  be64(p, 16, 0x99AABBCCDDEEFF00ull);
  be16(p, 24, 0x0011 | SE_CMDF_STRUCTURED | SE_CMDF_DMAW);
  be16(p, 26, 40);
  be32(p, 28, (uint32_t)-3);
  be16(p, 32, 0x0022 | SE_CMDF_STRUCTURED);
  be16(p, 34, 20);
  be32(p, 36, 5);
  be16(p, 40, 0x0033 | SE_CMDF_ASIZE4);
  be16(p, 42, 12);
  be32(p, 44, 6);
  memcpy(p + 48, "\xDE\xAD\xBE\xEF", 4);
  be16(p, 56, 0x0044);
  be16(p, 58, 11);
  be32(p, 60, 7);
  /* y's payload "abc" at 64: extend the message to hold it. */
  be16(p, 2, 67);
  be16(p, 26, 43);
  memcpy(p + 64, "abc", 3);
  CHECK_EQ(validate_exact(p, 72), 0);

  CHECK_EQ(m.msg.sm_proto, SM_PROTO_ENCODE(1234));
  CHECK_EQ(SM_PROTO_DECODE(m.msg.sm_proto), 1234);
  CHECK_EQ(m.msg.sm_bytes, 67);
  CHECK_EQ(m.msg.sm_rlabel, 0x01020304u);
  CHECK(m.msg.sm_msgid == 0x1122334455667788ull);
  CHECK(m.msg.sm_sessid == 0x99AABBCCDDEEFF00ull);
  par = &m.msg.sm_head;
  CHECK_EQ(par->se_cmd, 0x0011 | SE_CMDF_STRUCTURED | SE_CMDF_DMAW |
                            SE_CMDF_UNTRANSLATED);
  CHECK_EQ(par->se_bytes, 43);
  CHECK_EQ(par->se_aux, -3);
  SL_FOREACH_ELEMENT(par, e) {
    if (n == 0) {
      struct syslink_elm *x = e + 1;
      CHECK_EQ(e->se_cmd, 0x0022 | SE_CMDF_STRUCTURED | SE_CMDF_UNTRANSLATED);
      CHECK_EQ(e->se_aux, 5);
      CHECK_EQ(x->se_cmd, 0x0033 | SE_CMDF_ASIZE4 | SE_CMDF_UNTRANSLATED);
      CHECK_EQ(x->se_bytes, 12);
      CHECK_EQ(x->se_aux, 6);
      /* Opaque payloads stay as the sender wrote them. */
      CHECK(memcmp(x + 1, "\xDE\xAD\xBE\xEF", 4) == 0);
    } else {
      CHECK_EQ(e->se_cmd, 0x0044 | SE_CMDF_UNTRANSLATED);
      CHECK_EQ(e->se_bytes, 11);
      CHECK(memcmp(e + 1, "abc", 3) == 0);
    }
    n++;
  }
  CHECK_EQ(n, 2);
  /* Now native: validating again changes nothing. */
  {
    msgbuf_t again = m;
    CHECK_EQ(validate_exact(&again, 72), 0);
    CHECK(memcmp(&again, &m, 72) == 0);
  }
  /* A broken reversed message is rejected and left as it was. */
  memset(&m, 0, sizeof m);
  be16(p, 0, SM_PROTO_ENCODE(1234));
  be16(p, 2, 32);
  be16(p, 24, 1);
  be16(p, 26, 9); /* head claims more than the message holds */
  CHECK_EQ(validate_exact(p, 32), EINVAL);
}

int main(void) {
  test_layout();
  test_proto_encoding();
  test_helpers();
  test_sizes();
  test_endian_markers();
  test_pad();
  test_header_rules();
  test_element_bounds();
  test_dragonfly_child_overrun();
  test_dragonfly_budget_wrap();
  test_depth();
  test_asize();
  test_big_endian_message();
  if (failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("abi_test: all checks passed\n");
  return 0;
}
