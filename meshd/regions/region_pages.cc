#include "meshd/regions/region_pages.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>

namespace meshd {

RegionPages::~RegionPages() {
  for (size_t i = 0; i < n_; i++) libsyslink::SfBufCache::Free(sfs_[i]);
}

int RegionPages::Map(libsyslink::SfBufCache* cache, const RegionTable::Region& r,
                     uint64_t offset, size_t len) {
  // (RegionTable::Check has bounded the range; this is the last line.)
  if (offset > r.length || len > r.length - offset || len > SL_DMA_MAX) return ERANGE;
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  uint64_t at = r.offset + offset;  // in the memfd
  struct sl_page pg = r.page;
  while (len > 0) {
    pg.index = at / page;
    const size_t in = at % page;
    const size_t take = std::min(len, page - in);
    sl_sfbuf* sf;
    const int err = cache->Alloc(pg, SFB_NOWAIT, &sf);
    if (err != 0) return err;
    sfs_[n_] = sf;
    iov_[n_] = {static_cast<char*>(sl_sfbuf_kva(sf)) + in, take};
    n_++;
    at += take;
    len -= take;
  }
  return 0;
}

}  // namespace meshd
