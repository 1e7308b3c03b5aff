/*
 * kv.h: the protocol of the key-value example (a storage server's shape).
 *
 *   KV_PUT  key element; DMAW: the value (up to SL_DMA_MAX bytes)
 *   KV_GET  key element; DMAR: the value comes back into the buffer;
 *           reply se_aux ENOENT if the key is unknown
 *   KV_STAT (no elements); reply element KV_ELM_COUNT: keys stored
 *   KV_EXPOSE key element; reply element KV_ELM_REGION: a read-only region
 *           key (struct syslink_region_key) for the value, which the client
 *           then reads one-sidedly with syslink_region_read(); the key dies
 *           when the value is replaced
 */
#ifndef EXAMPLES_KV_KV_H_
#define EXAMPLES_KV_KV_H_

#include <syslink/syslink.h>

#define KV_PROTO SM_PROTO_ENCODE(0x600)
#define KV_PUT 1
#define KV_GET 2
#define KV_STAT 3
#define KV_EXPOSE 4
#define KV_ELM_KEY 1
#define KV_ELM_COUNT (2 | SE_CMDF_ASIZE8)
#define KV_ELM_REGION 3
#define KV_KEY_MAX 64

union kv_msg {
  struct syslink_msg msg;
  char buf[SL_MAXSIZE];
};

#endif /* EXAMPLES_KV_KV_H_ */
