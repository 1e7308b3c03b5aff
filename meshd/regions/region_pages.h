// RegionPages: a region's bytes [offset, offset + len), mapped page by page
// through an sf_buf cache and handed out as iovec pieces, for one
// operation. The mappings are released (they stay cached) when it goes.
//
//   RegionPages pages;
//   if (int err = pages.Map(cache, region, offset, len); err != 0) return err;
//   link->WriteReplyGather(reply, pages.iov(), pages.count());   // a read
//
// Map() never waits (SFB_NOWAIT: it runs on meshd's loop) and never maps a
// byte outside the region, whatever it is asked.
#ifndef MESHD_REGIONS_REGION_PAGES_H_
#define MESHD_REGIONS_REGION_PAGES_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "libsyslink/sfbuf.h"
#include "meshd/regions/region_table.h"
#include "syslink/syslink.h"

namespace meshd {

class RegionPages {
 public:
  // The most pages one operation touches: SL_DMA_MAX bytes starting
  // anywhere in a page (of at least 4 KiB).
  static constexpr size_t kMaxPages = SL_DMA_MAX / 4096 + 1;

  RegionPages() = default;
  ~RegionPages();
  RegionPages(const RegionPages&) = delete;
  RegionPages& operator=(const RegionPages&) = delete;

  // Maps [OFFSET, OFFSET + LEN) of region R (LEN at most SL_DMA_MAX) from
  // CACHE. Returns 0, ERANGE (outside the region, or LEN too large: the
  // caller should have checked), or the cache's errno (EAGAIN: every slot
  // is in use).
  int Map(libsyslink::SfBufCache* cache, const RegionTable::Region& r, uint64_t offset,
          size_t len);
  const struct iovec* iov() const { return iov_; }
  int count() const { return static_cast<int>(n_); }

 private:
  sl_sfbuf* sfs_[kMaxPages];
  struct iovec iov_[kMaxPages];
  size_t n_ = 0;
};

}  // namespace meshd

#endif  // MESHD_REGIONS_REGION_PAGES_H_
