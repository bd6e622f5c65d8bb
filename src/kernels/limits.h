/* Compile-time maxima of the kernel library. Every buffer is sized by these
 * and every loop bound is limited by them, so the kernels synthesize with
 * fixed resources; engines check a model's shape against them first. */
#ifndef FLEXLLM_KERNELS_LIMITS_H
#define FLEXLLM_KERNELS_LIMITS_H

#define FLX_MAX_DIM 8192        /* model width */
#define FLX_MAX_FFN 16384       /* SwiGLU width */
#define FLX_MAX_HEAD_DIM 128
#define FLX_MAX_HEADS 64        /* query heads */
#define FLX_MAX_KV_HEADS 16
#define FLX_MAX_SEQ 4096        /* KV cache positions */
#define FLX_MAX_VOCAB 262144
#define FLX_MAX_LINEAR_IN 16384 /* largest d_in of a linear layer */
#define FLX_MAX_TOPK 64         /* candidates kept by the sampler */
#define FLX_MAX_DENSE_ROTATION 4096 /* order of a dense online rotation */

#define FLX_MAX_TP 32           /* prefill tokens per block */
#define FLX_MAX_WP 256          /* weight lanes of a linear array */
#define FLX_MAX_BP 64           /* decode arrays */
#define FLX_MAX_HP 64           /* decode attention head lanes */
#define FLX_MAX_KP 128          /* keys per QK tile */
#define FLX_MAX_VP 128          /* head-dim lanes of the AV array */
#define FLX_MAX_BLOCKS 8        /* weight streams of a blocked linear */
#define FLX_MAX_CONSUMERS 8     /* outputs of a stream distributor */

#endif
