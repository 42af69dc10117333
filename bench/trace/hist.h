/*
 * hist.h - log-bucketed latency histograms (HDR-style), shared by the latency
 * shim (latency.c), sl-replay and scripts/spanlab_exp/latency.py, which computes
 * the same buckets.
 *
 * A value v (nanoseconds) below 64 has its own bucket, index v. Above, with
 * e = floor(log2 v), the bucket holds the values whose top 6 bits agree:
 * index 64 + (e - 6) * 32 + (the 5 bits after the leading one). Each bucket is at
 * most 1/32 of its lower bound wide, so a percentile reported as the bucket's
 * midpoint is within 1.6 % of the true value. Values of 2^41 ns and above share
 * the last bucket; the exact maximum is kept beside the buckets.
 *
 * Dump format (text, one line per histogram, after a header line):
 *     spanlab-latency 1 sample=N clock=tsc|clock_gettime
 *     NAME COUNT MAX INDEX:COUNT INDEX:COUNT ...      (non-empty buckets only)
 * written with write(2) from a stack buffer: no allocation.
 */
#ifndef SL_HIST_H
#define SL_HIST_H

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define SL_HIST_SUB_BITS 5
#define SL_HIST_LINEAR 64
#define SL_HIST_MAX_EXP 40
#define SL_HIST_BUCKETS (SL_HIST_LINEAR + (SL_HIST_MAX_EXP - SL_HIST_SUB_BITS) * 32)

struct sl_hist {
	uint64_t count;
	uint64_t max;
	uint64_t b[SL_HIST_BUCKETS];
};

static inline unsigned sl_hist_bucket(uint64_t v)
{
	if (v < SL_HIST_LINEAR)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);
	if (e > SL_HIST_MAX_EXP)
		return SL_HIST_BUCKETS - 1;
	return SL_HIST_LINEAR + (e - (SL_HIST_SUB_BITS + 1)) * 32u +
	       (unsigned)((v >> (e - SL_HIST_SUB_BITS)) & 31u);
}

static inline void sl_hist_add(struct sl_hist *h, uint64_t v)
{
	h->b[sl_hist_bucket(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

static inline void sl_hist_merge(struct sl_hist *into, const struct sl_hist *h)
{
	for (unsigned i = 0; i < SL_HIST_BUCKETS; i++)
		into->b[i] += h->b[i];
	into->count += h->count;
	if (h->max > into->max)
		into->max = h->max;
}

/* Decimal digits of v at p; returns the new end. */
static inline char *sl_hist_u64(char *p, uint64_t v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* Write all of buf to fd; returns 0 or -1. */
static inline int sl_hist_write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The header line of a dump. */
static inline int sl_hist_write_header(int fd, uint64_t sample, const char *clock)
{
	char line[96], *p = line;
	memcpy(p, "spanlab-latency 1 sample=", 25);
	p = sl_hist_u64(p + 25, sample);
	size_t n = strlen(clock) < 32 ? strlen(clock) : 32;
	memcpy(p, " clock=", 7);
	memcpy(p + 7, clock, n);
	p += 7 + n;
	*p++ = '\n';
	return sl_hist_write_all(fd, line, (size_t)(p - line));
}

/* One histogram's line of a dump. */
static inline int sl_hist_write(int fd, const char *name, const struct sl_hist *h)
{
	char buf[4096], *p = buf;
	size_t n = strlen(name);
	memcpy(p, name, n);
	p += n;
	*p++ = ' ';
	p = sl_hist_u64(p, h->count);
	*p++ = ' ';
	p = sl_hist_u64(p, h->max);
	for (unsigned i = 0; i < SL_HIST_BUCKETS; i++) {
		if (!h->b[i])
			continue;
		if (p - buf > (long)sizeof buf - 64) {
			if (sl_hist_write_all(fd, buf, (size_t)(p - buf)))
				return -1;
			p = buf;
		}
		*p++ = ' ';
		p = sl_hist_u64(p, i);
		*p++ = ':';
		p = sl_hist_u64(p, h->b[i]);
	}
	*p++ = '\n';
	return sl_hist_write_all(fd, buf, (size_t)(p - buf));
}

#endif /* SL_HIST_H */
