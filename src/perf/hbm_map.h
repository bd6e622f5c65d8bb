/* HBM channel assignment of the two engines' memory streams: default maps
 * for configurations that leave a group on "auto", checks against the
 * device, and the per-channel load of a group of streams. */
#ifndef FLEXLLM_PERF_HBM_MAP_H
#define FLEXLLM_PERF_HBM_MAP_H

#include <stdint.h>

#include "common/error.h"
#include "engines/accel_config.h"
#include "perf/device.h"

int flx_hbm_count(uint64_t mask);

/* Fills the groups of cfg->hbm left at 0 with a default map for dev (the
 * streams of each engine on distinct channels while there are enough, the
 * decode K and V caches behind the weights as in the reference's mem_opt
 * build) and checks that every channel exists on dev. */
int flx_hbm_resolve(const flx_device *dev, flx_accel_config *cfg, flx_error *err);

/* Adds bytes[i] of stream i (of n_streams) to load[channel] for the
 * channels of mask. With at least as many channels as streams, stream i is
 * split evenly over channels [i*n/s, (i+1)*n/s) of the mask. Otherwise
 * stream i goes to channel floor(i*n/s). */
void flx_hbm_spread(uint64_t mask, int n_streams, const double *bytes, double *load);

/* Adds bytes spread evenly over every channel of mask. */
void flx_hbm_spread_even(uint64_t mask, double bytes, double *load);

/* Adds bytes to the first half of mask's channels (K caches) or the second
 * half (V caches); a one-channel mask takes both. */
void flx_hbm_spread_half(uint64_t mask, int second_half, double bytes, double *load);

/* Sustained bytes per second of one channel: the peak times the port
 * efficiency, at most hbm_port_bytes per kernel clock cycle. */
double flx_hbm_channel_rate(const flx_device *dev, double clock_hz);

#endif
