/*
 * vxgate's C shim over DPDK 22.11.
 *
 * DPDK implements its fast-path API (rx/tx burst, mbuf alloc/free/prepend/adj, rte_errno,
 * rte_lcore_id) as static inline functions, which have no symbol to link against. This shim
 * gives each one we use a real, exported symbol named vxgate_*. The per-packet mbuf accessors
 * (data pointer and lengths, headroom, prepend, adj, refcount, flags) are plain field accesses
 * in Rust over bindgen's layout of struct rte_mbuf; the functions below remain for the rare
 * cases (chains, clones) and for tests that compare both sides.
 * bindgen reads this header (it includes the DPDK headers it needs).
 */
#include <stddef.h>
#ifndef VXGATE_DPDK_SHIM_H
#define VXGATE_DPDK_SHIM_H

#include <stdint.h>

#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

/*
 * Constants whose DPDK definitions use RTE_BIT64(), which bindgen cannot evaluate. An enum
 * makes clang evaluate them; every value fits in an int.
 */
enum vxgate_const {
	VXGATE_ETH_TX_OFFLOAD_IPV4_CKSUM = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM,
	VXGATE_ETH_TX_OFFLOAD_MULTI_SEGS = RTE_ETH_TX_OFFLOAD_MULTI_SEGS,
	VXGATE_ETH_RSS_IPV4 = RTE_ETH_RSS_IPV4,
	VXGATE_ETH_RSS_FRAG_IPV4 = RTE_ETH_RSS_FRAG_IPV4,
	VXGATE_ETH_RSS_NONFRAG_IPV4_TCP = RTE_ETH_RSS_NONFRAG_IPV4_TCP,
	VXGATE_ETH_RSS_NONFRAG_IPV4_UDP = RTE_ETH_RSS_NONFRAG_IPV4_UDP,
	VXGATE_ETH_RSS_NONFRAG_IPV4_OTHER = RTE_ETH_RSS_NONFRAG_IPV4_OTHER,
	VXGATE_MAX_NB_SEGS = RTE_MBUF_MAX_NB_SEGS,
	VXGATE_PKTMBUF_HEADROOM = RTE_PKTMBUF_HEADROOM,
	VXGATE_MBUF_DEFAULT_BUF_SIZE = RTE_MBUF_DEFAULT_BUF_SIZE,
};

/*
 * Where the fields Rust reads and writes directly lie, as clang's offsetof sees them, plus the
 * tx_offload bit positions. mbuf.rs checks bindgen's struct layout against these at compile
 * time, so a layout bindgen got wrong fails the build instead of corrupting packets.
 */
enum vxgate_mbuf_layout {
	VXGATE_MBUF_SIZE = sizeof(struct rte_mbuf),
	VXGATE_MBUF_OFF_BUF_ADDR = offsetof(struct rte_mbuf, buf_addr),
	VXGATE_MBUF_OFF_DATA_OFF = offsetof(struct rte_mbuf, data_off),
	VXGATE_MBUF_OFF_REFCNT = offsetof(struct rte_mbuf, refcnt),
	VXGATE_MBUF_OFF_NB_SEGS = offsetof(struct rte_mbuf, nb_segs),
	VXGATE_MBUF_OFF_OL_FLAGS = offsetof(struct rte_mbuf, ol_flags),
	VXGATE_MBUF_OFF_PKT_LEN = offsetof(struct rte_mbuf, pkt_len),
	VXGATE_MBUF_OFF_DATA_LEN = offsetof(struct rte_mbuf, data_len),
	VXGATE_MBUF_OFF_BUF_LEN = offsetof(struct rte_mbuf, buf_len),
	VXGATE_MBUF_OFF_NEXT = offsetof(struct rte_mbuf, next),
	VXGATE_MBUF_OFF_TX_OFFLOAD = offsetof(struct rte_mbuf, tx_offload),
	VXGATE_MBUF_SIZEOF_REFCNT = sizeof(((struct rte_mbuf *)0)->refcnt),
	VXGATE_MBUF_L2_LEN_OFS = RTE_MBUF_L2_LEN_OFS,
	VXGATE_MBUF_L2_LEN_BITS = RTE_MBUF_L2_LEN_BITS,
	VXGATE_MBUF_L3_LEN_OFS = RTE_MBUF_L3_LEN_OFS,
	VXGATE_MBUF_L3_LEN_BITS = RTE_MBUF_L3_LEN_BITS,
};

/* Per-thread state. */
int vxgate_errno(void);
unsigned vxgate_lcore_id(void);

/* Fast path. */
uint16_t vxgate_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **pkts,
			     uint16_t nb_pkts);
uint16_t vxgate_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **pkts,
			     uint16_t nb_pkts);

/* Mbuf life cycle. */
struct rte_mbuf *vxgate_pktmbuf_alloc(struct rte_mempool *mp);
void vxgate_pktmbuf_free(struct rte_mbuf *m);
struct rte_mbuf *vxgate_pktmbuf_clone(struct rte_mbuf *m, struct rte_mempool *mp);
void vxgate_pktmbuf_attach(struct rte_mbuf *mi, struct rte_mbuf *m);
int vxgate_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail);
uint16_t vxgate_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value);
uint16_t vxgate_mbuf_refcnt_read(const struct rte_mbuf *m);

/*
 * Mbuf geometry and edits: Rust does these inline (mbuf.rs); these C versions are the reference
 * its unit tests compare against, and truncate serves chains of several segments.
 */
char *vxgate_pktmbuf_mtod(const struct rte_mbuf *m);
uint16_t vxgate_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t vxgate_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t vxgate_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t vxgate_pktmbuf_tailroom(const struct rte_mbuf *m);
uint16_t vxgate_pktmbuf_nb_segs(const struct rte_mbuf *m);
struct rte_mbuf *vxgate_pktmbuf_next(const struct rte_mbuf *m);
/* Non-zero when the mbuf's data buffer is not its own (indirect clone or external buffer). */
int vxgate_pktmbuf_is_indirect(const struct rte_mbuf *m);
/* Data room of the buffer the mbuf's data lives in. */
uint16_t vxgate_pktmbuf_buf_len(const struct rte_mbuf *m);
uint64_t vxgate_pktmbuf_ol_flags(const struct rte_mbuf *m);

/* Each edit returns NULL / negative and leaves the mbuf unchanged on failure. */
char *vxgate_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *vxgate_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *vxgate_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int vxgate_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
/* Shortens a possibly multi-segment packet to len bytes, freeing segments past the end. */
void vxgate_pktmbuf_truncate(struct rte_mbuf *m, uint32_t len);
/* Moves the start of an empty mbuf to leave `headroom` bytes in front; -1 if not empty or too big. */
int vxgate_pktmbuf_set_headroom(struct rte_mbuf *m, uint16_t headroom);
/* Requests outer IPv4 header checksum offload for headers of these lengths at the packet start. */
int vxgate_pktmbuf_tx_ipv4_cksum(struct rte_mbuf *m, uint16_t l2_len, uint16_t l3_len);

/* Mempool. */
unsigned vxgate_mempool_size(const struct rte_mempool *mp);

/* Link status of rte_eth_link (a bit-field). */
int vxgate_eth_link_up(uint16_t port_id);
/* Link state without waiting: returns 1 when up; speed (0 when unknown) and duplex out. */
int vxgate_eth_link(uint16_t port_id, uint32_t *speed_mbps, int *full_duplex);

#endif
