/*
 * vxgate's C shim over DPDK 22.11: exported wrappers for DPDK's static inline functions and
 * mbuf field accessors. See shim.h for the contract of each function. Every function is a thin
 * forwarder; pointer validity is the caller's (Rust's) responsibility.
 */
#include <string.h>

#include "shim.h"

int vxgate_errno(void) { return rte_errno; }

unsigned vxgate_lcore_id(void) { return rte_lcore_id(); }

uint16_t vxgate_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **pkts,
			     uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, pkts, nb_pkts);
}

uint16_t vxgate_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **pkts,
			     uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, pkts, nb_pkts);
}

struct rte_mbuf *vxgate_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

void vxgate_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

struct rte_mbuf *vxgate_pktmbuf_clone(struct rte_mbuf *m, struct rte_mempool *mp)
{
	return rte_pktmbuf_clone(m, mp);
}

void vxgate_pktmbuf_attach(struct rte_mbuf *mi, struct rte_mbuf *m) { rte_pktmbuf_attach(mi, m); }

int vxgate_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail)
{
	return rte_pktmbuf_chain(head, tail);
}

uint16_t vxgate_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value)
{
	return rte_mbuf_refcnt_update(m, value);
}

uint16_t vxgate_mbuf_refcnt_read(const struct rte_mbuf *m)
{
	/* An indirect mbuf's data lives in (and is counted by) the direct mbuf it is attached to. */
	if (RTE_MBUF_CLONED(m))
		return rte_mbuf_refcnt_read(rte_mbuf_from_indirect((struct rte_mbuf *)m));
	return rte_mbuf_refcnt_read(m);
}

char *vxgate_pktmbuf_mtod(const struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, char *); }

uint16_t vxgate_pktmbuf_data_len(const struct rte_mbuf *m) { return m->data_len; }

uint32_t vxgate_pktmbuf_pkt_len(const struct rte_mbuf *m) { return m->pkt_len; }

uint16_t vxgate_pktmbuf_headroom(const struct rte_mbuf *m) { return rte_pktmbuf_headroom(m); }

uint16_t vxgate_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }

uint16_t vxgate_pktmbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }

struct rte_mbuf *vxgate_pktmbuf_next(const struct rte_mbuf *m) { return m->next; }

int vxgate_pktmbuf_is_indirect(const struct rte_mbuf *m) { return !RTE_MBUF_DIRECT(m); }

uint16_t vxgate_pktmbuf_buf_len(const struct rte_mbuf *m) { return m->buf_len; }

uint64_t vxgate_pktmbuf_ol_flags(const struct rte_mbuf *m) { return m->ol_flags; }

char *vxgate_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_prepend(m, len); }

char *vxgate_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }

char *vxgate_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }

int vxgate_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }

void vxgate_pktmbuf_truncate(struct rte_mbuf *m, uint32_t len)
{
	struct rte_mbuf *seg = m;
	uint32_t before = 0; /* bytes in the segments before seg */

	if (len >= m->pkt_len)
		return;
	while (seg != NULL) {
		if (before + seg->data_len >= len) {
			seg->data_len = (uint16_t)(len - before);
			if (seg->next != NULL) {
				rte_pktmbuf_free(seg->next);
				seg->next = NULL;
			}
			break;
		}
		before += seg->data_len;
		seg = seg->next;
	}
	m->pkt_len = len;
	/* Recount the segments that are left. */
	m->nb_segs = 0;
	for (seg = m; seg != NULL; seg = seg->next)
		m->nb_segs++;
}

int vxgate_pktmbuf_set_headroom(struct rte_mbuf *m, uint16_t headroom)
{
	if (m->data_len != 0 || m->next != NULL || headroom > m->buf_len)
		return -1;
	m->data_off = headroom;
	return 0;
}

int vxgate_pktmbuf_tx_ipv4_cksum(struct rte_mbuf *m, uint16_t l2_len, uint16_t l3_len)
{
	/* l2_len is a 7-bit field and l3_len a 9-bit one. */
	if (l2_len >= (1u << 7) || l3_len >= (1u << 9))
		return -1;
	m->l2_len = l2_len;
	m->l3_len = l3_len;
	m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
	return 0;
}

unsigned vxgate_mempool_size(const struct rte_mempool *mp) { return mp->size; }

int vxgate_eth_link(uint16_t port_id, uint32_t *speed_mbps, int *full_duplex)
{
	struct rte_eth_link link;

	memset(&link, 0, sizeof(link));
	*speed_mbps = 0;
	*full_duplex = 0;
	if (rte_eth_link_get_nowait(port_id, &link) != 0)
		return 0;
	if (link.link_speed != RTE_ETH_SPEED_NUM_UNKNOWN)
		*speed_mbps = link.link_speed;
	*full_duplex = link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
	return link.link_status == RTE_ETH_LINK_UP;
}

int vxgate_eth_link_up(uint16_t port_id)
{
	struct rte_eth_link link;

	memset(&link, 0, sizeof(link));
	if (rte_eth_link_get_nowait(port_id, &link) != 0)
		return 0;
	return link.link_status == RTE_ETH_LINK_UP;
}
