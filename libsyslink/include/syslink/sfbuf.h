/*
 * sfbuf.h: the page-mapping cache (C and C++), after FreeBSD's sf_buf(9).
 *
 * sl_sfbuf_alloc() maps one page of a memory object -- a memfd or a regular
 * file -- into the process and returns a handle; sl_sfbuf_kva() gives the
 * page's address, sl_sfbuf_page() the page, sl_sfbuf_ref() takes another
 * reference and sl_sfbuf_free() drops one. Mappings are cached: allocating
 * a page that is mapped already, in use or not, returns the same mapping;
 * a freed mapping stays mapped on a least-recently-used list until its slot
 * is needed for another page. The pool of slots has a fixed size, set with
 * sl_sfbuf_setmax(); when every slot is in use, allocations wait (or fail,
 * with SFB_NOWAIT).
 *
 * Reading page 3 of a file, the way a sendfile-style server does:
 *
 *     struct sl_page pg;
 *     if (sl_page_init(&pg, fd, 3) != 0) return -1;      // one fstat()
 *     struct sl_sfbuf *sf = sl_sfbuf_alloc(&pg, 0);       // may wait
 *     if (sf == NULL) return -1;                          // errno says why
 *     memcpy(dst, sl_sfbuf_kva(sf), 100);                 // the page's bytes
 *     sl_sfbuf_free(sf);                                  // stays cached
 *
 * Pages and objects. A page is (object, index): the bytes at
 * [index * P, (index + 1) * P) of the object, P being the system page size
 * (sysconf(_SC_PAGESIZE)). The object is identified by its (st_dev,
 * st_ino), not by the descriptor number: two descriptors of one file or
 * memfd (dup(), /proc/self/fd, SCM_RIGHTS) share mappings. The cache keeps
 * no descriptor; each mapping holds its own reference to the object (as
 * any mmap() does), so a cached mapping stays valid after every descriptor
 * of the object is closed, and while it is cached no other object can take
 * the same (st_dev, st_ino). Objects on local file systems and memfds only
 * (inode numbers of network file systems are not guaranteed unique).
 *
 * The descriptor is needed only to make a mapping. A hit costs no system
 * call because struct sl_page carries the object's identity, filled once
 * by sl_page_init(); changing page.index afterwards is fine.
 *
 * The hazard that remains: a file that shrinks while its pages are mapped
 * (here or anywhere) makes access to the pages past its new end fault with
 * SIGBUS -- cached mappings included. Memfds sealed with F_SEAL_SHRINK
 * (those from syslink_dma_alloc() are) cannot shrink. The bytes of the last
 * page that lie past the end of the object read as zeros.
 *
 * Thread safety: every call may be made from any thread, except that a
 * SFB_CPUPRIVATE handle is referenced and freed only by the thread that
 * allocated it. Handles are plain pointers valid while referenced; using
 * one after its last sl_sfbuf_free() is undefined. Misuse that the library
 * can detect (freeing an unreferenced handle, another thread freeing a
 * SFB_CPUPRIVATE one) terminates the process with a message on stderr.
 *
 * Errors: functions that return a pointer return NULL with errno set;
 * functions that return int return 0, or -1 with errno set.
 */
#ifndef SYSLINK_SFBUF_H_
#define SYSLINK_SFBUF_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A page of a memory object. Fill it with sl_page_init(), then change INDEX
 * at will to name other pages of the same object.
 *
 *   FD     a descriptor of the object (a memfd or a regular file), used to
 *          make the mapping on a miss. It must refer to the object that DEV
 *          and INO name. May be -1 when the page is known to be cached
 *          (a miss then fails with EBADF).
 *   PROT   the access wanted: PROT_READ, or PROT_READ | PROT_WRITE (from
 *          <sys/mman.h>). sl_page_init() sets the most that FD allows;
 *          lower it to PROT_READ for a read-only mapping. A page with
 *          different PROT is a different mapping (of the same bytes).
 *          0 means "not filled": sl_sfbuf_alloc() then calls fstat() and
 *          fcntl() on FD itself, on every call (slower, no other change).
 *   INDEX  the page number in the object.
 *   DEV, INO  the object's st_dev and st_ino.
 */
struct sl_page {
  int32_t  fd;
  int32_t  prot;
  uint64_t index;
  uint64_t dev;
  uint64_t ino;
};

/*
 * sl_page_init: fill PAGE for page INDEX of the object open at FD: its
 * identity (fstat()) and the most access FD allows: PROT_READ | PROT_WRITE
 * for an O_RDWR descriptor of an object not sealed against writing
 * (F_SEAL_WRITE, F_SEAL_FUTURE_WRITE), else PROT_READ. INDEX is not checked
 * here: the object's size may change, sl_sfbuf_alloc() checks it.
 * Returns 0, or -1 with errno:
 *   EFAULT  PAGE is NULL.
 *   EBADF   FD is not an open descriptor.
 *   EINVAL  FD is not a regular file or memfd.
 *   EACCES  FD was opened O_WRONLY (a page cannot be mapped for writing
 *           only).
 */
int sl_page_init(struct sl_page *page, int fd, uint64_t index);

/* The handle of a mapped page. */
struct sl_sfbuf;

/*
 * Flags of sl_sfbuf_alloc(), with sf_buf(9)'s meaning.
 *
 * SFB_CATCH       while waiting for a slot, a signal whose handler runs in
 *                 this thread aborts the wait: NULL with errno EINTR (with or
 *                 without SA_RESTART, like FreeBSD's PCATCH sleep). Without
 *                 it, signal handlers run and the wait goes on. Only the
 *                 wait is interruptible: a hit or a miss with a free slot
 *                 never fails with EINTR.
 * SFB_NOWAIT      never wait: NULL with errno EAGAIN (== EWOULDBLOCK) when
 *                 every slot is in use. Wins over SFB_CATCH.
 * SFB_CPUPRIVATE  use the calling thread's own cache, with no lock: for a
 *                 mapping that this thread alone allocates, references and
 *                 frees (others may read or write the bytes while this
 *                 thread holds it). A per-thread cache holds at most
 *                 SL_SFBUF_CPUPRIVATE_PAGES pages; its pages are slots of the
 *                 pool (they count in mapped and against max), and all
 *                 threads' caches together hold at most half of max. When
 *                 this thread's cache cannot take the page (every page of it
 *                 in use, no slot for it), the allocation is served by the
 *                 shared cache instead, as if the flag were not given (that
 *                 handle may then be freed by any thread). The mapping is a
 *                 separate one from the shared cache's mapping of the same
 *                 page (same bytes, different address). A thread gives its
 *                 inactive pages back to the pool before it would wait for
 *                 a slot itself, at its next SFB_CPUPRIVATE call when the
 *                 pool was lowered or other threads wait for slots, and when
 *                 it exits (pages it still holds then stay mapped and
 *                 become shared ones).
 */
#define SFB_CATCH      0x0001
#define SFB_NOWAIT     0x0002
#define SFB_CPUPRIVATE 0x0004

#define SL_SFBUF_DEFAULT_MAX      1024       /* the pool, in pages */
#define SL_SFBUF_MAX_LIMIT        (1u << 20) /* sl_sfbuf_setmax()'s bound */
#define SL_SFBUF_CPUPRIVATE_PAGES 16         /* per thread */

/*
 * sl_sfbuf_alloc: map PAGE (or find its mapping) and take a reference.
 *
 * A hit (the page is mapped, in use or inactive on the LRU list) costs no
 * system call. A miss checks FD (its identity against DEV and INO, the
 * page against the object's current size, the access against PROT) and
 * maps the page MAP_SHARED in a slot: a new slot while fewer than max
 * pages are mapped, else the slot of the least recently used inactive
 * mapping (that mapping goes). With every slot in use the call waits until
 * one is freed (see the flags); a thread that holds every slot itself
 * waits forever.
 *
 * Returns the handle, or NULL with errno:
 *   EFAULT  PAGE is NULL.
 *   EINVAL  unknown FLAGS; PROT not 0, PROT_READ or PROT_READ|PROT_WRITE;
 *           (miss) FD is not a regular file or memfd, or is not the object
 *           DEV and INO name; the page lies wholly past the object's end
 *           (or INDEX is too large for an offset). No mapping is made.
 *   EBADF   (miss, or PROT 0) FD is not an open descriptor.
 *   EACCES  (miss) FD does not allow PROT (e.g. PROT_WRITE on O_RDONLY),
 *           or the file system refuses the mapping.
 *   EPERM   (miss) PROT_WRITE on a memfd sealed against writing.
 *   EAGAIN  SFB_NOWAIT and every slot in use (counted in failures).
 *   EINTR   SFB_CATCH and a signal arrived while waiting (counted in
 *           failures).
 *   ENOMEM  the kernel refused the mapping (e.g. vm.max_map_count: each
 *           page is one mapping) or memory ran out.
 *   EMFILE, ENFILE  (about to wait) no descriptor for the thread's wait
 *           eventfd (made once per thread, on its first wait).
 */
struct sl_sfbuf *sl_sfbuf_alloc(const struct sl_page *page, int flags);

/*
 * sl_sfbuf_kva: the address of the page's first byte (page-aligned, the
 * page's size in bytes), with the access of the page's PROT. Valid while
 * SF is referenced.
 */
void *sl_sfbuf_kva(const struct sl_sfbuf *sf);

/*
 * sl_sfbuf_page: the page SF maps: INDEX, DEV, INO and PROT as allocated,
 * FD -1 (the cache keeps no descriptor). Valid while SF is referenced.
 */
const struct sl_page *sl_sfbuf_page(const struct sl_sfbuf *sf);

/*
 * sl_sfbuf_ref: take another reference to SF, which the caller holds
 * (SFB_CPUPRIVATE handles: on the allocating thread only). Each reference
 * is dropped with its own sl_sfbuf_free().
 */
void sl_sfbuf_ref(struct sl_sfbuf *sf);

/*
 * sl_sfbuf_free: drop a reference to SF. The last one makes the mapping
 * inactive: it stays mapped, most recently used last on the LRU list, and
 * a later sl_sfbuf_alloc() of the page revives it (a hit) until its slot is
 * recycled. (If the pool is over max because it was lowered, the mapping
 * is unmapped instead.) SFB_CPUPRIVATE handles: on the allocating thread
 * only. NULL is ignored.
 */
void sl_sfbuf_free(struct sl_sfbuf *sf);

/*
 * sl_sfbuf_setmax: set the pool size of the process's cache to PAGES, at
 * any time. Raising it lets waiters go on. Lowering it unmaps inactive
 * mappings, least recently used first, until at most PAGES are mapped;
 * mappings in use are never revoked: each is unmapped when freed, as long
 * as more than PAGES are mapped, and allocations that need a new slot wait
 * meanwhile. Inactive pages of per-thread (SFB_CPUPRIVATE) caches are given
 * back at their thread's next SFB_CPUPRIVATE call, or when it exits.
 * Default: SL_SFBUF_DEFAULT_MAX.
 * Returns 0, or -1 with errno EINVAL (PAGES is 0 or over SL_SFBUF_MAX_LIMIT).
 */
int sl_sfbuf_setmax(size_t pages);

/* Counters and state of a cache. Counters count since the cache began. */
struct sl_sfbuf_stats {
  uint64_t in_use;   /* mappings referenced now (shared and per-thread) */
  uint64_t peak;     /* the most slots in use at once so far: shared */
                     /* mappings referenced plus every page of per-thread */
                     /* caches (theirs alone, referenced or not) */
  uint64_t max;      /* the pool size, in pages */
  uint64_t mapped;   /* pages mapped now: in use and inactive; at most max */
                     /* unless max was lowered under mappings in use */
  uint64_t waits;    /* allocations that waited for a slot (once each) */
  uint64_t failures; /* allocations that got no slot: SFB_NOWAIT or EINTR */
  uint64_t hits;     /* allocations that found the page mapped */
  uint64_t misses;   /* allocations that mapped the page */
  uint64_t recycles; /* misses that took an inactive mapping's slot */
  uint64_t cpuprivate_hits;   /* of hits: in a per-thread cache */
  uint64_t cpuprivate_misses; /* of misses: in a per-thread cache */
  uint64_t cpuprivate_mapped; /* of mapped: in per-thread caches */
};

/*
 * sl_sfbuf_stats: fill ST with the process's cache's statistics. Exact
 * when no other thread is allocating or freeing meanwhile.
 * Returns 0, or -1 with errno EFAULT (ST is NULL).
 */
int sl_sfbuf_stats(struct sl_sfbuf_stats *st);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SYSLINK_SFBUF_H_ */
