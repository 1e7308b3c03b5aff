/*
 * sendfile_proto.h: the little protocol of the sendfile example.
 *
 * The client asks for byte ranges of the server's file; the server maps the
 * file's pages with sl_sfbuf_alloc() and sends each range back as the DMAR
 * reply's data, straight from the page mapping (sendfile-style: no read()
 * into a buffer of its own).
 *
 *   SF_CMD_READ | SE_CMDF_DMAR, elements SF_ELM_OFFSET (8 bytes) and
 *   SF_ELM_LENGTH (4 bytes): the range [OFFSET, OFFSET + LENGTH) must lie
 *   within one page of the file (one page per command: a range's bytes are
 *   one page mapping, so the reply needs no gathering). The reply carries
 *   min(LENGTH, file size - OFFSET) bytes in the client's buffer
 *   (syslink_dma_bytes() says how many), or se_aux EINVAL for a range that
 *   crosses a page or starts at or past the end of the file, or another
 *   errno from sl_sfbuf_alloc().
 *
 *   SF_CMD_STATS: the reply's elements SF_ELM_STAT (8 bytes each) hold the
 *   server's struct sl_sfbuf_stats, field by field, in declaration order.
 */
#ifndef EXAMPLES_SENDFILE_SENDFILE_PROTO_H_
#define EXAMPLES_SENDFILE_SENDFILE_PROTO_H_

#include "syslink/syslink.h"

#define SF_PROTO SM_PROTO_ENCODE(0x123) /* an application protocol number */

#define SF_CMD_READ  1
#define SF_CMD_STATS 2

#define SF_ELM_OFFSET (1 | SE_CMDF_ASIZE8)
#define SF_ELM_LENGTH (2 | SE_CMDF_ASIZE4)
#define SF_ELM_STAT   (3 | SE_CMDF_ASIZE8)

/* A message buffer of the largest size. */
union sf_msg {
  struct syslink_msg msg;
  char buf[SL_MAXSIZE];
};

#endif /* EXAMPLES_SENDFILE_SENDFILE_PROTO_H_ */
