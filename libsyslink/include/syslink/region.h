/*
 * region.h: RDMA-style registered memory regions (C and C++).
 *
 * A process registers a range of its memory with its node's meshd and gets
 * a key. Whoever holds the key -- a peer on this node or on any node of the
 * mesh -- reads or writes the range one-sidedly: the owner process takes no
 * part in the transfer (its meshd does it, through its own mappings of the
 * owner's pages), and is not woken. The owner's meshd checks every
 * operation: the key (slot, generation and a 64-bit secret), the access the
 * range was registered with, and the bounds. A key is a capability, like an
 * RDMA rkey: give it (inside a message) only to peers that may use it.
 *
 *     // Owner: expose 1 MiB for reading and writing.
 *     char *buf = syslink_dma_alloc(1 << 20);
 *     struct syslink_region_key key;
 *     if (syslink_region_register(buf, 1 << 20, SL_REGION_READ | SL_REGION_WRITE,
 *                                 &key) != 0) err(1, "register");
 *     ... send KEY to a peer in a syslink message ...
 *     syslink_region_deregister(&key);        // the key is dead from here on
 *
 *     // Peer (any node): read 4 KiB at offset 8192.
 *     char page[4096];
 *     if (syslink_region_read(&key, 8192, page, sizeof page) < 0) err(1, "read");
 *
 * Memory. A region lies inside one buffer from syslink_dma_alloc(): those
 * are memfd-backed, so meshd maps the owner's pages instead of copying
 * them through the owner, and they are sealed so that meshd can never fault
 * on them. Any offset and length inside the buffer will do. Pages are not
 * locked (mlock): meshd reaches them through its mappings of the memfd, so
 * a page that was swapped out is simply faulted back in; a process that
 * wants its regions resident mlock()s them itself, within RLIMIT_MEMLOCK.
 *
 * Lifetime. A region lives until its last syslink_region_deregister(), the
 * syslink_dma_free() of its buffer, or the exit of its owner process,
 * whichever comes first; it does not survive a restart of meshd (register
 * again). From then on every operation with its key fails with ENOENT, on
 * every node, even if the same memory is registered again: each
 * registration gets a new generation and a new secret. An operation is
 * atomic with respect to deregistration: once syslink_region_deregister()
 * has returned, no operation reads or writes the range.
 *
 * Registration cache. Registering the same (address, length, access) again
 * is a hash lookup in the library (and one poll() of its connection to
 * meshd, which notices a meshd restart), and returns the same key with one
 * more reference; each registration is undone by one
 * syslink_region_deregister(). The cache is invalidated by
 * syslink_dma_free(): freeing a buffer deregisters every region inside it,
 * so memory mapped at the same address later -- by syslink_dma_alloc() or
 * by anything else -- is never served an old key. A buffer from
 * syslink_dma_alloc() must be released with syslink_dma_free(), never with
 * munmap(): the library cannot see a munmap().
 *
 * Copies. A local read or write copies the bytes once (meshd copies between
 * its mappings of the two processes' memfds) when the peer's buffer lies in
 * a syslink_dma_alloc() buffer and is page-aligned; any other buffer adds
 * one copy through a per-thread bounce buffer. Across the mesh the data
 * crosses the network once, in 128 KiB pieces.
 *
 * Thread safety: every call may be made from any thread; operations of
 * different threads run concurrently.
 *
 * Errors: functions return 0 (or a byte count), or -1 with errno set.
 */
#ifndef SYSLINK_REGION_H_
#define SYSLINK_REGION_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Access a region grants to holders of its key. */
#define SL_REGION_READ  0x1 /* peers may read it */
#define SL_REGION_WRITE 0x2 /* peers may write it */

/*
 * A region's key: where the region lives (NODE: the owner's meshd node id),
 * which registration it is (SLOT and GENERATION, never reused together) and
 * the proof of being given the key (SECRET: 64 random bits). Plain data:
 * copy it into messages as it is (host byte order; peers on nodes of the
 * other byte order swap each field).
 */
struct syslink_region_key {
  uint64_t node;
  uint32_t slot;
  uint32_t generation;
  uint64_t secret;
};

/*
 * syslink_region_register: register BYTES bytes at ADDR with the local
 * meshd, for ACCESS (SL_REGION_READ and/or SL_REGION_WRITE), and fill KEY.
 * [ADDR, ADDR + BYTES) must lie inside one buffer from syslink_dma_alloc().
 * The same (ADDR, BYTES, ACCESS) registered again returns the same key and
 * takes another reference (from the cache: no request to meshd).
 * Returns 0, or -1 with errno:
 *   EFAULT        KEY is NULL.
 *   EINVAL        ACCESS is 0 or has unknown bits; BYTES is 0; the range is
 *                 not inside one syslink_dma_alloc() buffer.
 *   EFBIG         BYTES is over meshd's regions.max_region_bytes.
 *   EAGAIN        meshd is at regions.max_regions_per_client for this
 *                 process, or draining.
 *   ECONNREFUSED  no meshd answers.
 *   EACCES        meshd refused this process's uid/gid.
 *   ENOMEM, EMFILE  out of memory or descriptors.
 */
int syslink_region_register(void *addr, size_t bytes, int access,
                            struct syslink_region_key *key);

/*
 * syslink_region_deregister: drop one reference to the registration KEY
 * names (made by this process). With the last one the region is gone: when
 * this returns, no operation reads or writes it any more, and its key fails
 * with ENOENT everywhere.
 * Returns 0, or -1 with errno:
 *   EFAULT  KEY is NULL.
 *   ENOENT  KEY is not a live registration of this process.
 */
int syslink_region_deregister(const struct syslink_region_key *key);

/*
 * syslink_region_read: copy BYTES bytes at OFFSET in the region KEY names
 * into BUF. syslink_region_write: copy BYTES bytes from BUF to OFFSET in the
 * region. Blocks until done. Transfers over SL_DMA_MAX bytes go in pieces;
 * if one fails, the call fails (a write may then have written a prefix).
 * Returns BYTES, or -1 with errno:
 *   EFAULT        KEY is NULL, or BUF is NULL with BYTES > 0.
 *   ENOENT        no such region: never registered, deregistered, its
 *                 buffer freed, its owner exited, or its meshd restarted.
 *   EACCES        the key's secret is wrong, or the region was not
 *                 registered for this access (or the local meshd refused
 *                 this process's uid/gid).
 *   ERANGE        [OFFSET, OFFSET + BYTES) is not inside the region.
 *   EHOSTUNREACH  the owner's node is unknown or unreachable (or failed
 *                 during the transfer).
 *   ECONNREFUSED  no local meshd answers.
 *   ECONNABORTED  the local meshd went away during the transfer.
 *   EAGAIN        a meshd on the way is at a session limit or draining.
 *   ENOMEM, EMFILE  out of memory or descriptors.
 */
ssize_t syslink_region_read(const struct syslink_region_key *key, uint64_t offset,
                            void *buf, size_t bytes);
ssize_t syslink_region_write(const struct syslink_region_key *key, uint64_t offset,
                             const void *buf, size_t bytes);

/* This process's registrations and its registration cache. */
struct syslink_region_stats {
  uint64_t registered;        /* live registrations (distinct keys) */
  uint64_t registered_bytes;  /* their bytes */
  uint64_t cache_hits;        /* registrations answered from the cache */
  uint64_t cache_misses;      /* registrations that went to meshd */
  uint64_t invalidations;     /* registrations dropped by syslink_dma_free() */
  uint64_t ops;               /* reads and writes made */
  uint64_t op_bytes;          /* bytes they moved */
};

/*
 * syslink_region_get_stats: fill ST.
 * Returns 0, or -1 with errno EFAULT (ST is NULL).
 */
int syslink_region_get_stats(struct syslink_region_stats *st);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SYSLINK_REGION_H_ */
