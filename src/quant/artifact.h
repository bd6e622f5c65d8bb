/* The quantized-model artifact: one safetensors file holding the integer
 * weights, their scales and row sums, the float norms and embedding, the
 * static attention scales, and "__metadata__" strings with the model shape
 * and quantization settings.
 *
 * Tensors: token_embd, output_norm, blk.N.attn_norm, blk.N.ffn_norm (F32);
 * for each linear L of blk.N (attn_q, attn_k, attn_v, attn_output,
 * ffn_gate, ffn_up, ffn_down) and for the LM head "output": L.q (8-bit: I8
 * [d_out][d_in]; 4-bit: U8 [d_out][ceil(d_in/2)], column 2i in the low
 * nibble and 2i+1 in the high nibble, two's complement), L.scale and
 * L.rowsum (F32 [d_out]); blk.N.q_scale [n_heads], blk.N.k_scale and
 * blk.N.v_scale [n_kv_heads], blk.N.prob_scale [1] (F32); rope_freqs
 * [rope_dim/2] when the model has one. The layer linears share the width
 * in metadata weight_bits (4 or 8). The LM head's width is
 * lm_head_weight_bits (4, 8 or 16); with 16, output.q holds the high bytes
 * and output.q_lo the low bytes of the codes, both I8 [vocab][dim], as
 * quant/qmodel.h splits them. */
#ifndef FLEXLLM_QUANT_ARTIFACT_H
#define FLEXLLM_QUANT_ARTIFACT_H

#include "common/error.h"
#include "quant/qmodel.h"

#define FLX_ARTIFACT_FORMAT "flexllm-quantized"
#define FLX_ARTIFACT_FORMAT_VERSION "1"

/* Where an artifact came from, recorded in its metadata. The rotations are
 * stored in two keys: "rotations", the offline and online rotations as
 * flx_rotation_record_format writes them, and "online_rotations", "none" or
 * "r4-walsh-hadamard-ffn", which sets qm->online_hadamard_ffn. Artifacts
 * without "online_rotations" have "rotations" = "none" or
 * "online-hadamard-ffn" and still load. */
typedef struct flx_artifact_provenance {
    char source_model[512];  /* path of the float checkpoint */
    char calib_text[512];    /* path of the calibration text */
    long calib_tokens;       /* text tokens used for calibration */
    char rotations[1024];    /* "" on save: "none", or the R4 entry when qm->online_hadamard_ffn */
    char weight_quantizer[64]; /* e.g. "rtn" or "gptq(act_order,clip=mse)"; "" on save: "unrecorded" */
} flx_artifact_provenance;

/* Writes qm to path (through a temporary file renamed at the end, so a
 * failed write leaves no partial artifact). */
int flx_artifact_save(const flx_qmodel *qm, const flx_artifact_provenance *prov, const char *path,
                      flx_error *err);

/* Loads an artifact into qm (source NULL, every buffer owned by qm) and,
 * when prov is not NULL, its provenance. Checks the format tag and version,
 * the metadata, and every tensor's dtype and shape against the metadata.
 * Also checks that codes are in range, scales positive and row sums equal
 * to scale * (sum of codes). Errors name the file and tensor. */
int flx_artifact_load(flx_qmodel *qm, flx_artifact_provenance *prov, const char *path, flx_error *err);

#endif
