/*
 * syslink.h: the syslink mesh public API (C and C++).
 *
 * A syslink is a message-based request/reply channel. Every command gets
 * exactly one reply; a command may carry an out-of-band DMA buffer of up to
 * SL_DMA_MAX bytes. Descriptors are real file descriptors (poll/epoll work on
 * them) and are made by syslink(): SYSLINK_CMD_NEW for a local pair, or
 * LISTEN/CONNECT through the node's meshd for services anywhere in the mesh.
 *
 * This header has two parts:
 *   1. The wire ABI: message layout, constants, flags and inline helpers to
 *      build and walk messages, and sl_msg_validate(), the receiver's check.
 *      It follows DragonFly BSD's final syslink ABI, with the protocol-number
 *      encoding made lossless and the element bounds checks fixed.
 *   2. The calls: syslink(), message I/O, DMA buffers (further below).
 *
 * Building a command with one element and validating it:
 *
 *     union { struct syslink_msg msg; char buf[SL_MAXSIZE]; } u;
 *     struct syslink_elm *par = sl_msg_init_cmd(&u.msg, SM_PROTO_ENCODE(100), 7);
 *     struct syslink_elm *e = sl_elm_make(par, 1, 5);
 *     memcpy(e + 1, "hello", 5);
 *     u.msg.sm_msgid = 1;
 *     sl_msg_fini(&u.msg);
 *     assert(sl_msg_validate(&u.msg, SL_MSG_ALIGN(u.msg.sm_bytes)) == 0);
 *
 * Errors are errno values: functions return 0 or an errno, or -1 with errno
 * set where they mirror a system call (each declaration says which).
 */
#ifndef SYSLINK_SYSLINK_H_
#define SYSLINK_SYSLINK_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#define SL_STATIC_ASSERT(cond, what) static_assert(cond, what)
#else
#define SL_STATIC_ASSERT(cond, what) _Static_assert(cond, what)
#endif

/* ------------------------------------------------------------------------ */
/* 1. Wire ABI                                                              */
/* ------------------------------------------------------------------------ */

typedef int32_t  sl_auxdata_t; /* element aux data; errno in a reply's sm_head */
typedef uint32_t sl_rlabel_t;  /* reply label routing id, set by the transport */
typedef uint16_t sl_proto_t;   /* protocol id, endian marker, reply bit */
typedef uint16_t sl_cmd_t;     /* command id and flags */
typedef uint16_t sl_reclen_t;  /* record length (unaligned) */
typedef uint64_t sysid_t;

/*
 * An element: an 8-byte header followed by se_bytes - 8 bytes of payload.
 * The payload is opaque, or (SE_CMDF_STRUCTURED) an array of elements.
 * Records start on 8-byte boundaries: the next sibling is at
 * SL_MSG_ALIGN(se_bytes) from this one.
 */
struct syslink_elm {
  sl_cmd_t     se_cmd;   /* command or element id, and SE_CMDF_* flags */
  sl_reclen_t  se_bytes; /* unaligned size including this header */
  sl_auxdata_t se_aux;   /* auxiliary data; a reply's sm_head holds its errno */
};

/*
 * A message: a 24-byte header and a top-level array of elements whose first
 * is sm_head (the command). A PAD message may be only 8 bytes long.
 * One write carries exactly one message of SL_MSG_ALIGN(sm_bytes) bytes.
 */
struct syslink_msg {
  sl_proto_t   sm_proto;  /* SM_PROTO_ENCODE(protocol), reply bit, endian */
  sl_reclen_t  sm_bytes;  /* unaligned size of the message, DMA excluded */
  sl_rlabel_t  sm_rlabel; /* reply label, set by the transport */
  sysid_t      sm_msgid;  /* chosen by the originator; unique among its */
                          /* unreplied commands on the descriptor */
  sysid_t      sm_sessid; /* session id, set by the transport (0 on local pairs) */
  struct syslink_elm sm_head;
};

SL_STATIC_ASSERT(sizeof(struct syslink_elm) == 8, "syslink_elm is 8 bytes");
SL_STATIC_ASSERT(offsetof(struct syslink_elm, se_cmd) == 0, "se_cmd at 0");
SL_STATIC_ASSERT(offsetof(struct syslink_elm, se_bytes) == 2, "se_bytes at 2");
SL_STATIC_ASSERT(offsetof(struct syslink_elm, se_aux) == 4, "se_aux at 4");
SL_STATIC_ASSERT(sizeof(struct syslink_msg) == 32, "syslink_msg is 32 bytes");
SL_STATIC_ASSERT(offsetof(struct syslink_msg, sm_proto) == 0, "sm_proto at 0");
SL_STATIC_ASSERT(offsetof(struct syslink_msg, sm_bytes) == 2, "sm_bytes at 2");
SL_STATIC_ASSERT(offsetof(struct syslink_msg, sm_rlabel) == 4, "sm_rlabel at 4");
SL_STATIC_ASSERT(offsetof(struct syslink_msg, sm_msgid) == 8, "sm_msgid at 8");
SL_STATIC_ASSERT(offsetof(struct syslink_msg, sm_sessid) == 16, "sm_sessid at 16");
SL_STATIC_ASSERT(offsetof(struct syslink_msg, sm_head) == 24, "sm_head at 24");

#define SL_ALIGN         8
#define SL_ALIGNMASK     (SL_ALIGN - 1)
#define SL_MIN_PAD_SIZE  8            /* sm_proto, sm_bytes, sm_rlabel */
#define SL_MIN_MSG_SIZE  32           /* sizeof(struct syslink_msg) */
#define SL_MIN_ELM_SIZE  8            /* sizeof(struct syslink_elm) */
#define SL_MAXDEPTH      10           /* structured elements on any path */
#define SL_MAXSIZE       4096         /* a message, DMA excluded (iov[0]) */
#define SL_DMA_MAX       (128 * 1024) /* the out-of-band buffer (iov[1]) */
#define SL_MSG_ALIGN(n)  (((n) + 7) & ~7)

/*
 * sm_proto, bit by bit: r pppppp x - pppppp x
 *   r (0x8000)  reply
 *   p           a 12-bit protocol number: its high six bits at bits 14-9, its
 *               low six bits at bits 6-1. 0 is PAD, 1-63 are reserved for
 *               syslink itself, 64-4095 belong to applications.
 *   x           endian markers: senders set 0x0100. A receiver that finds
 *               0x0001 instead knows the sender's byte order is reversed
 *               (a 16-bit byte swap moves one bit onto the other).
 *   - (0x0080)  reserved, zero.
 */
#define SM_PROTO_REPLY       0x8000
#define SM_PROTO_ENDIAN_NORM 0x0100
#define SM_PROTO_ENDIAN_REV  0x0001
#define SM_PROTO_RESERVED    0x0080
#define SM_PROTO_NUM_MAX     4095
#define SM_PROTO_APP_MIN     64

/* Lossless: SM_PROTO_DECODE(SM_PROTO_ENCODE(n)) == n for 0 <= n <= 4095. */
#define SM_PROTO_ENCODE(n) \
  ((sl_proto_t)(((((unsigned)(n) >> 6) & 0x3Fu) << 9) | \
                (((unsigned)(n) & 0x3Fu) << 1) | SM_PROTO_ENDIAN_NORM))
#define SM_PROTO_DECODE(p) \
  ((unsigned)(((((unsigned)(p) >> 9) & 0x3Fu) << 6) | (((unsigned)(p) >> 1) & 0x3Fu)))

#define SMPROTO_PAD    SM_PROTO_ENCODE(0)
#define SMPROTO_BSDVFS SM_PROTO_ENCODE(0x40)

/*
 * Reserved protocols used by syslink itself. SMPROTO_MESHCTL carries the
 * library's requests to meshd and never reaches applications.
 * SMPROTO_NOTICE carries notices on LISTEN descriptors (see syslink()).
 * SMPROTO_REGION carries one-sided region reads and writes between the
 * library and meshd (syslink/region.h); it never reaches applications.
 */
#define SMPROTO_MESHCTL SM_PROTO_ENCODE(1)
#define SMPROTO_NOTICE  SM_PROTO_ENCODE(2)
#define SMPROTO_REGION  SM_PROTO_ENCODE(3)

/* Notices (sm_head se_cmd & SE_CMD_MASK) on a LISTEN descriptor. */
#define SL_NOTICE_SESSION_OPEN   1 /* a client opened session sm_sessid */
#define SL_NOTICE_SESSION_CLOSED 2 /* session sm_sessid ended; se_aux: why */

/*
 * se_cmd flags. Switch on the whole 16-bit se_cmd, so that a reply or an
 * untranslated element is never mistaken for a command.
 */
#define SE_CMDF_REPLY        0x8000 /* set in a reply's sm_head */
#define SE_CMDF_STRUCTURED   0x4000 /* payload is an array of elements */
#define SE_CMDF_GLOBAL       0x2000 /* defined by syslink, not the protocol */
#define SE_CMDF_UNTRANSLATED 0x1000 /* flipped on every byte swap: the header */
                                    /* was swapped, the opaque payload not */
#define SE_CMDF_ASIZEMASK    0x0C00 /* below sm_head: payload size check */
#define SE_CMDF_ASIZEX       0x0000 /*   any number of bytes */
#define SE_CMDF_ASIZE0       0x0400 /*   exactly 0 data bytes */
#define SE_CMDF_ASIZE4       0x0800 /*   exactly 4 data bytes */
#define SE_CMDF_ASIZE8       0x0C00 /*   exactly 8 data bytes */
#define SE_CMDF_DMAR         0x0800 /* in sm_head: the target sends data back */
                                    /* into the originator's buffer */
#define SE_CMDF_DMAW         0x0400 /* in sm_head: the originator's buffer */
                                    /* goes to the target */
#define SE_CMD_MASK          0x03FF
#define SE_CMD_PAD           0x0000 /* an element to skip */

/*
 * sl_msg_init_cmd: start a command in MSG (at least SL_MIN_MSG_SIZE bytes)
 * for protocol PROTO (an SM_PROTO_ENCODE()d value) with sm_head command CMD.
 * sm_rlabel, sm_msgid and sm_sessid are zeroed: set sm_msgid before sending.
 * Returns sm_head, the parent for sl_elm_make()/sl_elm_push().
 * Finish with sl_msg_fini().
 */
static inline struct syslink_elm *sl_msg_init_cmd(struct syslink_msg *msg,
                                                  sl_proto_t proto,
                                                  sl_cmd_t cmd) {
  msg->sm_proto = (sl_proto_t)(proto & ~SM_PROTO_REPLY);
  msg->sm_bytes = 0;
  msg->sm_rlabel = 0;
  msg->sm_msgid = 0;
  msg->sm_sessid = 0;
  msg->sm_head.se_cmd = (sl_cmd_t)(cmd & ~SE_CMDF_REPLY);
  msg->sm_head.se_bytes = SL_MIN_ELM_SIZE;
  msg->sm_head.se_aux = 0;
  return &msg->sm_head;
}

/*
 * sl_msg_init_reply: start in REP the reply to command MSG: the same
 * protocol, msgid, rlabel and sessid, both reply bits set (SM_PROTO_REPLY,
 * SE_CMDF_REPLY), sm_head's se_cmd otherwise copied and ERROR (0 or a
 * positive errno) in sm_head.se_aux. Returns REP's sm_head; finish with
 * sl_msg_fini(). MSG and REP may be the same buffer.
 */
static inline struct syslink_elm *sl_msg_init_reply(const struct syslink_msg *msg,
                                                    struct syslink_msg *rep,
                                                    int32_t error) {
  sl_cmd_t cmd = msg->sm_head.se_cmd;
  rep->sm_proto = (sl_proto_t)(msg->sm_proto | SM_PROTO_REPLY);
  rep->sm_bytes = 0;
  rep->sm_rlabel = msg->sm_rlabel;
  rep->sm_msgid = msg->sm_msgid;
  rep->sm_sessid = msg->sm_sessid;
  rep->sm_head.se_cmd = (sl_cmd_t)(cmd | SE_CMDF_REPLY);
  rep->sm_head.se_bytes = SL_MIN_ELM_SIZE;
  rep->sm_head.se_aux = error;
  return &rep->sm_head;
}

/*
 * sl_msg_fini: set sm_bytes from sm_head (24 + SL_MSG_ALIGN(se_bytes)).
 * The message is then written with iov[0].iov_len = sm_bytes.
 */
static inline void sl_msg_fini(struct syslink_msg *msg) {
  msg->sm_bytes = (sl_reclen_t)(offsetof(struct syslink_msg, sm_head) +
                                SL_MSG_ALIGN(msg->sm_head.se_bytes));
}

/*
 * sl_elm_make: append to PAR an opaque element CMD with BYTES bytes of
 * payload (written by the caller at the returned element + 1) and grow PAR.
 * PAR becomes SE_CMDF_STRUCTURED (its payload is now an array of elements,
 * which the receiver validates). CMD must not be SE_CMDF_STRUCTURED: open
 * nested arrays with sl_elm_push(). The caller keeps the message within
 * SL_MAXSIZE.
 */
static inline struct syslink_elm *sl_elm_make(struct syslink_elm *par,
                                              sl_cmd_t cmd, int bytes) {
  struct syslink_elm *elm =
      (struct syslink_elm *)(void *)((char *)par + SL_MSG_ALIGN(par->se_bytes));
  par->se_cmd = (sl_cmd_t)(par->se_cmd | SE_CMDF_STRUCTURED);
  elm->se_cmd = cmd;
  elm->se_bytes = (sl_reclen_t)(SL_MIN_ELM_SIZE + bytes);
  elm->se_aux = 0;
  par->se_bytes = (sl_reclen_t)(SL_MSG_ALIGN(par->se_bytes) + elm->se_bytes);
  return elm;
}

/* sl_elm_make_aux: append to PAR an element CMD with no payload and AUX. */
static inline struct syslink_elm *sl_elm_make_aux(struct syslink_elm *par,
                                                  sl_cmd_t cmd,
                                                  sl_auxdata_t aux) {
  struct syslink_elm *elm = sl_elm_make(par, cmd, 0);
  elm->se_aux = aux;
  return elm;
}

/*
 * sl_elm_push: open a structured element CMD (SE_CMDF_STRUCTURED is added)
 * after PAR's current contents (PAR becomes structured too); append its
 * children to the returned element, then close it with sl_elm_pop(PAR, elm).
 */
static inline struct syslink_elm *sl_elm_push(struct syslink_elm *par,
                                              sl_cmd_t cmd) {
  struct syslink_elm *elm =
      (struct syslink_elm *)(void *)((char *)par + SL_MSG_ALIGN(par->se_bytes));
  par->se_cmd = (sl_cmd_t)(par->se_cmd | SE_CMDF_STRUCTURED);
  elm->se_cmd = (sl_cmd_t)(cmd | SE_CMDF_STRUCTURED);
  elm->se_bytes = SL_MIN_ELM_SIZE;
  elm->se_aux = 0;
  return elm;
}

/* sl_elm_pop: close ELM, opened on PAR by sl_elm_push(), growing PAR. */
static inline void sl_elm_pop(struct syslink_elm *par, struct syslink_elm *elm) {
  par->se_bytes = (sl_reclen_t)((char *)elm - (char *)par + elm->se_bytes);
}

/*
 * SL_FOREACH_ELEMENT(par, elm): visit each child element of PAR, a
 * structured element (SE_CMDF_STRUCTURED, possibly sm_head) of a message
 * that sl_msg_validate() accepted. The validator does not look inside
 * opaque payloads, so do not walk one as if it held elements.
 */
#define SL_FOREACH_ELEMENT(par, elm)                                          \
  for ((elm) = (par) + 1;                                                     \
       (char *)(elm) + SL_MIN_ELM_SIZE <= (char *)(par) + (par)->se_bytes;    \
       (elm) = (struct syslink_elm *)(void *)((char *)(elm) +                 \
                                              SL_MSG_ALIGN((elm)->se_bytes)))

/*
 * sl_msg_validate: the receiver's conformance check of the message in MSG,
 * BYTES long (iov[0].iov_len). On success a message in reversed byte order
 * has been swapped in place to this host's order (every header field and
 * every element header, recursively; SE_CMDF_UNTRANSLATED flipped in each
 * element; opaque payloads untouched). On failure nothing is changed and
 * nothing outside [MSG, MSG + BYTES) is read.
 *
 * The rules, in order:
 *   - BYTES at most SL_MAXSIZE, sm_bytes at most SL_MAXSIZE (else EFBIG);
 *     BYTES at least 8 and equal to SL_MSG_ALIGN(sm_bytes).
 *   - exactly one endian marker is set.
 *   - a PAD message (SMPROTO_PAD, no reply bit) needs sm_bytes >= 8 and is
 *     otherwise not examined.
 *   - any other message: sm_bytes >= 32, the reserved bit is zero, the
 *     protocol is not 0, SM_PROTO_REPLY agrees with sm_head's SE_CMDF_REPLY.
 *   - the top-level elements, sm_head first, and the children of every
 *     structured element: 8 <= se_bytes <= the bytes left in the parent
 *     (children are bounded by their own parent's se_bytes); at most
 *     SL_MAXDEPTH structured elements on any path; below sm_head, ASIZE0,
 *     ASIZE4 and ASIZE8 elements have exactly 0, 4 and 8 payload bytes.
 *
 * Returns 0, EINVAL (malformed) or EFBIG (too large).
 * The DMA rules need the iovec and are checked by syslink_writev().
 */
int sl_msg_validate(void *msg, size_t bytes);

/* ------------------------------------------------------------------------ */
/* 2. The syslink() call, message I/O, DMA buffers                          */
/* ------------------------------------------------------------------------ */

#define SYSLINK_INFO_VERSION 1
#define SYSLINK_NAME_MAX     64 /* node and service names, NUL included */

#define SYSLINK_CMD_NEW     1 /* a connected pair of local descriptors */
#define SYSLINK_CMD_LISTEN  2 /* publish a service on this node */
#define SYSLINK_CMD_CONNECT 3 /* open a session to NODE/SERVICE */

/*
 * The argument block of every command starts with this header. VERSION must
 * be SYSLINK_INFO_VERSION. WBFLAG is set to 1 by a successful call (the
 * results were written back). RESERVED must be zero.
 */
struct syslink_info {
  int version;
  int wbflag;
  int reserved[2];
};

/* SYSLINK_CMD_NEW: FDS receives a connected pair of descriptors. */
struct syslink_info_new {
  struct syslink_info head;
  int fds[2];
};

/*
 * SYSLINK_CMD_LISTEN: publish SERVICE (a NUL-terminated name) on this node.
 * FD receives a descriptor on which the commands of every session arrive,
 * each carrying its session's sm_sessid (nonzero, unguessable). Reply by
 * writing the reply to the same descriptor; originate a command to a
 * session by setting its sm_sessid. FLAGS: SYSLINK_FLAG_NONBLOCK.
 *
 * The descriptor also delivers notices, which need no reply: messages with
 * sm_proto SMPROTO_NOTICE | SM_PROTO_REPLY, sm_msgid 0, sm_sessid naming the
 * session and sm_head.se_cmd SL_NOTICE_* | SE_CMDF_GLOBAL | SE_CMDF_REPLY.
 * SL_NOTICE_SESSION_OPEN comes before the session's first command;
 * SL_NOTICE_SESSION_CLOSED (se_aux: ECONNRESET when the client died or
 * closed, EHOSTUNREACH when its node failed, ECONNABORTED when meshd went
 * away) comes after the session's last synthesized reply, and the sessid is
 * then gone (writes to it fail with EPIPE).
 *
 * Sessions between processes on the same node do not pass through meshd,
 * and survive a meshd restart; the library re-registers the service with
 * the new meshd by itself.
 */
struct syslink_info_listen {
  struct syslink_info head;
  char service[SYSLINK_NAME_MAX];
  int fd;
  int flags;
};

/*
 * SYSLINK_CMD_CONNECT: open a session to SERVICE on NODE ("" is this node).
 * FD receives a descriptor that behaves like one end of a pair. TIMEOUT_MS
 * bounds the wait for the service's node to answer: 0 means the default
 * (10000), a negative value waits as long as it takes.
 */
struct syslink_info_connect {
  struct syslink_info head;
  char node[SYSLINK_NAME_MAX];
  char service[SYSLINK_NAME_MAX];
  int fd;
  int timeout_ms;
};

union syslink_info_all {
  struct syslink_info head;
  struct syslink_info_new cmd_new;
  struct syslink_info_listen cmd_listen;
  struct syslink_info_connect cmd_connect;
};

#define SYSLINK_FLAG_NONBLOCK 0x0001 /* the new descriptor is O_NONBLOCK */

/*
 * syslink: make syslink descriptors.
 *
 * BYTES is the size of the structure INFO points to. A BYTES smaller than
 * the command's structure is zero-extended (older, shorter structures keep
 * working), as long as it holds the result field (fds[] or fd); a BYTES
 * larger than union syslink_info_all is refused.
 *
 * Descriptors are close-on-exec. Close them with syslink_close(), not
 * close(): the library keeps per-descriptor state (unreplied commands,
 * quotas) keyed by the descriptor number.
 *
 * LISTEN and CONNECT talk to the local meshd at $SYSLINK_MESHD, else
 * /run/meshd/meshd.sock, else $XDG_RUNTIME_DIR/meshd.sock.
 *
 * Returns 0, or -1 with errno:
 *   EINVAL        unknown CMD, bad VERSION or RESERVED, BYTES too large or
 *                 too small to hold the result, an empty or unterminated
 *                 name, unknown FLAGS.
 *   EFAULT        INFO is NULL.
 *   EMFILE/ENFILE no descriptors left.
 *   ECONNREFUSED  (LISTEN, CONNECT) no meshd answers; (CONNECT) the node
 *                 has no such service.
 *   EACCES        (LISTEN, CONNECT) meshd refused this process's uid/gid.
 *   EADDRINUSE    (LISTEN) the service name is taken on this node.
 *   EHOSTUNREACH  (CONNECT) the node is unknown or unreachable.
 *   ETIMEDOUT     (CONNECT) no answer within TIMEOUT_MS.
 *   EAGAIN        (LISTEN, CONNECT) meshd is at a limit (clients, services,
 *                 sessions) or draining.
 */
int syslink(int cmd, struct syslink_info *info, size_t bytes);

/*
 * syslink_writev: send one message: a command, or the reply to a command
 * this side has read. IOV[0] holds the message (SL_MSG_ALIGN(sm_bytes)
 * bytes); IOV[1], if present, is the DMA buffer.
 *
 * Commands: sm_msgid must differ from this side's unreplied commands. With
 * SE_CMDF_DMAW in sm_head the buffer goes to the target; with SE_CMDF_DMAR
 * the target's reply data is written back into it. The buffer must be
 * page-aligned, at most SL_DMA_MAX bytes, and must stay intact (not be
 * written or freed) until the reply arrives: it is not copied now. A buffer
 * from syslink_dma_alloc() reaches a local target with one copy (or none,
 * see SYSLINK_DMA_*); any other buffer is pinned and copied once, by the
 * reader.
 *
 * Replies: sm_msgid (and, on a LISTEN descriptor, sm_sessid) names the
 * command being answered; sm_head.se_aux carries 0 or a positive errno.
 * IOV[1] is allowed only for a SE_CMDF_DMAR command, holds at most the
 * originator's buffer size, and is copied before the call returns.
 *
 * The transport sets sm_sessid (on pairs and CONNECT descriptors) and keeps
 * a reply's sm_rlabel equal to its command's.
 *
 * Returns IOV[0]'s length, or -1 with errno:
 *   EINVAL   IOVCNT not 1 or 2; the message fails sl_msg_validate(); a
 *            command whose DMA flags and IOV[1] disagree; a DMA buffer not
 *            page-aligned; IOV[1] on a reply to a command without DMAR.
 *   EFBIG    IOV[0] over SL_MAXSIZE; IOV[1] over SL_DMA_MAX, or over the
 *            originator's buffer on a reply.
 *   EEXIST   a command whose sm_msgid is one of this side's unreplied ones.
 *   ENOENT   a reply to a command this side has not read or that does not
 *            exist (or was already answered).
 *   EPIPE    the far end is gone (or the session was torn down).
 *   EAGAIN   O_NONBLOCK and the command quota (or the socket) is full.
 *   EBADF    FD is not open; ENOTSOCK: FD is not a syslink descriptor.
 *   EINTR    a signal arrived while blocked.
 *   ENOMEM, EMFILE  resources for the DMA transfer ran out.
 */
ssize_t syslink_writev(int fd, const struct iovec *iov, int iovcnt);

/* syslink_write: syslink_writev() with one iovec (no DMA buffer). */
ssize_t syslink_write(int fd, const void *buf, size_t bytes);

/*
 * syslink_readv: receive one message into IOV[0] and, for a SE_CMDF_DMAW
 * command, its DMA data into IOV[1]. A reply to a DMAR command has its data
 * written into the buffer given with the command; the reply's sm_head then
 * has SE_CMDF_DMAR set, and syslink_dma_bytes() tells how many bytes came.
 *
 * Received messages have passed sl_msg_validate(). Malformed messages from
 * the peer (which only a peer bypassing the library can send), replies to
 * nothing, duplicate msgids and PAD messages are dropped, never delivered,
 * and counted in syslink_stats.rejected (PADs are not counted).
 *
 * When the far end dies or closes, every command this side sent and has not
 * had a reply to gets a synthesized reply (reply bits set, same
 * msgid/rlabel/sessid, no DMA data, se_aux ECONNRESET for a dead peer
 * process, EHOSTUNREACH for a failed node, ECONNABORTED when the local meshd
 * went away); after those, read returns 0. Commands the far end sent and
 * this side has not answered are forgotten (replying gives EPIPE).
 *
 * An IOV[0] of SL_MAXSIZE bytes takes one system call per message; a
 * smaller one peeks first.
 *
 * Returns the message's length (IOV[0] bytes), 0 at end of file, or -1
 * with errno:
 *   ENOSPC   the message is larger than IOV[0], or a DMAW command's data
 *            does not fit IOV[1]; the message stays queued for the next
 *            read (but poll() does not see a message held back for IOV[1]:
 *            read again at once).
 *   EINVAL   IOVCNT not 1 or 2.
 *   EAGAIN   O_NONBLOCK and nothing to read.
 *   EBADF, ENOTSOCK, EINTR as for syslink_writev().
 */
ssize_t syslink_readv(int fd, const struct iovec *iov, int iovcnt);

/* syslink_read: syslink_readv() with one iovec. */
ssize_t syslink_read(int fd, void *buf, size_t bytes);

/*
 * syslink_close: close FD and drop the library's state for it. Threads
 * blocked in syslink calls on FD wake (EBADF, or 0 from a read). The far
 * end sees end-of-file and synthesizes replies for its unreplied commands.
 * Returns 0, or -1 with errno EBADF.
 */
int syslink_close(int fd);

/*
 * syslink_dma_alloc: a DMA buffer of BYTES rounded up to whole pages,
 * page-aligned, zeroed, backed by a sealed memfd so that local peers and
 * meshd can map it instead of copying it. Free it with syslink_dma_free().
 * Sending a command whose DMA buffer lies in such a buffer shares the
 * whole allocation with the receiving process: read-only for DMAW, writable
 * for DMAR (so that the reply is written into it directly). Use separate
 * allocations for peers that should not see each other's data.
 * Returns the buffer, or NULL with errno EINVAL (BYTES is 0 or too large),
 * ENOMEM, EMFILE.
 */
void *syslink_dma_alloc(size_t bytes);

/*
 * syslink_dma_free: release a buffer from syslink_dma_alloc(). It must not
 * be the DMA buffer of a command still waiting for its reply.
 * Returns 0, or -1 with errno EINVAL (not a buffer from syslink_dma_alloc).
 */
int syslink_dma_free(void *buf);

/*
 * syslink_dma_bytes: how many DMA bytes the calling thread's last
 * successful syslink_readv() moved: into IOV[1] for a DMAW command, into
 * the command's buffer for a reply to a DMAR command; 0 otherwise.
 */
size_t syslink_dma_bytes(void);

/*
 * Flow control. Each direction of a link has a quota of outstanding command
 * bytes (IOV[0] bytes of commands sent and not yet replied to) and a bound
 * on the DMA bytes of those commands. A write that would exceed either
 * blocks, or fails with EAGAIN under O_NONBLOCK; a single command always
 * fits an empty link. syslink_set_quota() sets this side's sending limits
 * (0 keeps a value). Defaults: SYSLINK_QUOTA_DEFAULT, SYSLINK_DMA_QUOTA_DEFAULT.
 * Returns 0, or -1 with errno EBADF, ENOTSOCK.
 */
#define SYSLINK_QUOTA_DEFAULT     (64 * 1024)
#define SYSLINK_DMA_QUOTA_DEFAULT (2 * 1024 * 1024)
int syslink_set_quota(int fd, size_t cmd_bytes, size_t dma_bytes);

/*
 * syslink_set_dma_map: map mode (off by default). With ON nonzero, DMAW
 * data that a peer on this node sends from a syslink_dma_alloc() buffer,
 * read into an IOV[1] that lies in one of this process's syslink_dma_alloc()
 * buffers, is not copied: the whole pages it fills become a read-only,
 * shared view of the originator's pages (DragonFly's "map the originator's
 * buffer into the target", which it never built). A partial last page is
 * copied. Reading the same place from the same originator buffer again
 * costs no system call.
 *
 * The view follows the manual's lifetime rule from the other side: the
 * originator keeps the data intact until you reply; after your reply it may
 * change. Writing into view pages faults: the buffer's own pages come back
 * (their old contents) when a later read copies there, when you use the
 * range as a DMAR buffer, when the peer frees its buffer or the link ends,
 * or with syslink_set_dma_map(fd, 0). Anything else (other buffers,
 * unaligned ranges, pipes) is copied as usual.
 * Returns 0, or -1 with errno EBADF, ENOTSOCK.
 */
int syslink_set_dma_map(int fd, int on);

/* Counters and state of one descriptor, for diagnostics. */
struct syslink_stats {
  uint64_t cmds_sent;           /* commands written */
  uint64_t replies_received;    /* real replies read */
  uint64_t replies_synthesized; /* replies made up for a dead far end */
  uint64_t cmds_received;       /* commands read */
  uint64_t replies_sent;        /* replies written */
  uint64_t rejected;            /* messages from the peer dropped as invalid */
  uint64_t late_replies;        /* replies to nothing outstanding, dropped */
  uint64_t dma_bytes_sent;      /* DMA data bytes sent (commands + replies) */
  uint64_t dma_bytes_received;  /* DMA data bytes received */
  uint64_t quota_waits;         /* writes that had to wait for the quota */
  uint32_t outstanding;         /* commands sent, awaiting replies */
  uint32_t outstanding_bytes;   /* their IOV[0] bytes */
  uint32_t outstanding_dma_bytes; /* their DMA buffer bytes */
  uint32_t unreplied;           /* commands read, not yet answered */
  uint32_t quota_bytes;         /* current limits */
  uint32_t dma_quota_bytes;
  uint64_t sessid;              /* the session, 0 for a local pair */
};

/*
 * syslink_get_stats: fill ST for descriptor FD.
 * Returns 0, or -1 with errno EBADF, ENOTSOCK, EFAULT.
 */
int syslink_get_stats(int fd, struct syslink_stats *st);

#ifdef __cplusplus
} /* extern "C" */
#endif

#include "syslink/region.h"
#include "syslink/sfbuf.h"
#endif /* SYSLINK_SYSLINK_H_ */
