/* Writes a small valid GGUF and llama.2c model and one malformed variant per
 * defect into the folder given as argv[1], for the `flexllm inspect` tests
 * in gguf.cmake. The GGUF bytes are assembled here by hand, independently
 * of the library's writer.
 *
 * The GGUF model: 1 layer, dim 32, 2 heads of 16, 1 KV head, ffn 256,
 * vocabulary of 8 tokens, all tensors F32. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum defect {
    GOOD,
    EMPTY,
    GGML_MAGIC,
    WRONG_MAGIC,
    VERSION_1,
    TRUNCATED_HEADER,
    TRUNCATED_STRING,
    ABSURD_KV_COUNT,
    ABSURD_TENSOR_COUNT,
    ABSURD_STRING_LENGTH,
    UNKNOWN_VALUE_TYPE,
    OFFSET_PAST_END,
    DATA_PAST_END,
    ATTN_Q_SHAPE,
    Q4_K_TENSOR,
    UNKNOWN_TENSOR_TYPE,
    MISSING_BLOCK_COUNT,
    MISSING_TENSOR,
    FIVE_DIMS,
    ZERO_DIM,
    MISALIGNED_OFFSET,
    BAD_UTF8_TOKEN,
    DUPLICATE_KEY,
    BAD_ALIGNMENT,
    WRONG_ARCH,
    VOCAB_MISMATCH,
    N_GGUF_CASES
} defect;

static const char *const gguf_files[N_GGUF_CASES] = {
    "good.gguf",           "empty.gguf",           "ggml_magic.gguf",
    "wrong_magic.gguf",    "version1.gguf",        "truncated_header.gguf",
    "truncated_string.gguf", "absurd_kv_count.gguf", "absurd_tensor_count.gguf",
    "absurd_string_length.gguf", "unknown_value_type.gguf", "offset_past_end.gguf",
    "data_past_end.gguf",  "attn_q_shape.gguf",    "q4_k_tensor.gguf",
    "unknown_tensor_type.gguf", "missing_block_count.gguf", "missing_tensor.gguf",
    "five_dims.gguf",      "zero_dim.gguf",        "misaligned_offset.gguf",
    "bad_utf8_token.gguf", "duplicate_key.gguf",   "bad_alignment.gguf",
    "wrong_arch.gguf",     "vocab_mismatch.gguf",
};

typedef struct buffer {
    uint8_t *data;
    size_t len, cap;
} buffer;

static void put(buffer *b, const void *bytes, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 1024;
        b->data = realloc(b->data, b->cap);
        if (!b->data) {
            perror("realloc");
            exit(1);
        }
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
}

static void put_u32(buffer *b, uint32_t v) {
    put(b, &v, 4);
}

static void put_u64(buffer *b, uint64_t v) {
    put(b, &v, 8);
}

static void put_str(buffer *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

enum { T_UINT32 = 4, T_FLOAT32 = 6, T_STRING = 8, T_ARRAY = 9, T_INT32 = 5 };

static void kv_u32(buffer *b, const char *key, uint32_t v) {
    put_str(b, key);
    put_u32(b, T_UINT32);
    put_u32(b, v);
}

static void kv_str(buffer *b, const char *key, const char *v) {
    put_str(b, key);
    put_u32(b, T_STRING);
    put_str(b, v);
}

typedef struct tensor {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[5];
    uint32_t type;
} tensor;

#define DIM 32
#define FFN 256
#define VOCAB 8

/* Writes the metadata entries and returns how many there are. */
static uint64_t write_metadata(buffer *b, defect d) {
    uint64_t n = 0;
    kv_str(b, "general.architecture", d == WRONG_ARCH ? "gpt2" : "llama"), n++;
    put_str(b, "general.name");
    put_u32(b, T_STRING);
    if (d == ABSURD_STRING_LENGTH) {
        put_u64(b, (uint64_t)1 << 62);
        put(b, "tiny", 4);
    } else {
        put_str(b, "tiny test model");
    }
    n++;
    if (d != MISSING_BLOCK_COUNT) kv_u32(b, "llama.block_count", 1), n++;
    kv_u32(b, "llama.context_length", 64), n++;
    kv_u32(b, "llama.embedding_length", DIM), n++;
    kv_u32(b, "llama.feed_forward_length", FFN), n++;
    kv_u32(b, "llama.attention.head_count", 2), n++;
    kv_u32(b, "llama.attention.head_count_kv", 1), n++;
    kv_u32(b, "llama.rope.dimension_count", 16), n++;
    put_str(b, "llama.attention.layer_norm_rms_epsilon");
    put_u32(b, T_FLOAT32);
    float eps = 1e-5f;
    put(b, &eps, 4), n++;
    if (d == UNKNOWN_VALUE_TYPE) {
        put_str(b, "test.strange");
        put_u32(b, 13);
        put_u32(b, 0), n++;
    }
    if (d == DUPLICATE_KEY) kv_u32(b, "llama.context_length", 128), n++;
    if (d == BAD_ALIGNMENT) kv_u32(b, "general.alignment", 3), n++;

    kv_str(b, "tokenizer.ggml.model", "llama"), n++;
    /* Token 3 is U+2581 followed by "a", SentencePiece spelling of " a". */
    const char *tokens[VOCAB] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81\x61", "b", "c", "d", "e"};
    if (d == BAD_UTF8_TOKEN) tokens[3] = "\xc3\x28";
    int n_tokens = d == VOCAB_MISMATCH ? VOCAB - 1 : VOCAB;
    put_str(b, "tokenizer.ggml.tokens");
    put_u32(b, T_ARRAY);
    put_u32(b, T_STRING);
    put_u64(b, (uint64_t)n_tokens);
    for (int i = 0; i < n_tokens; i++) put_str(b, tokens[i]);
    n++;
    put_str(b, "tokenizer.ggml.scores");
    put_u32(b, T_ARRAY);
    put_u32(b, T_FLOAT32);
    put_u64(b, (uint64_t)n_tokens);
    for (int i = 0; i < n_tokens; i++) {
        float score = -(float)i;
        put(b, &score, 4);
    }
    n++;
    put_str(b, "tokenizer.ggml.token_type");
    put_u32(b, T_ARRAY);
    put_u32(b, T_INT32);
    put_u64(b, (uint64_t)n_tokens);
    /* <unk> is UNKNOWN (2), <s> and </s> CONTROL (3), the rest NORMAL (1). */
    for (int i = 0; i < n_tokens; i++) {
        uint32_t type = 1;
        if (i == 0) type = 2;
        if (i == 1 || i == 2) type = 3;
        put_u32(b, type);
    }
    n++;
    kv_u32(b, "tokenizer.ggml.bos_token_id", 1), n++;
    kv_u32(b, "tokenizer.ggml.eos_token_id", 2), n++;
    return n;
}

static uint64_t tensor_bytes(const tensor *t) {
    uint64_t count = 1;
    for (uint32_t i = 0; i < t->n_dims; i++) count *= t->ne[i];
    if (t->type == 12) return count / 256 * 144; /* Q4_K blocks */
    return count * 4;
}

static uint64_t align32(uint64_t x) {
    return (x + 31) / 32 * 32;
}

static void build_gguf(defect d, buffer *out) {
    tensor tensors[] = {
        {"token_embd.weight", 2, {DIM, VOCAB}, 0},
        {"blk.0.attn_norm.weight", 1, {DIM}, 0},
        {"blk.0.attn_q.weight", 2, {DIM, 32}, 0},
        {"blk.0.attn_k.weight", 2, {DIM, 16}, 0},
        {"blk.0.attn_v.weight", 2, {DIM, 16}, 0},
        {"blk.0.attn_output.weight", 2, {32, DIM}, 0},
        {"blk.0.ffn_norm.weight", 1, {DIM}, 0},
        {"blk.0.ffn_gate.weight", 2, {DIM, FFN}, 0},
        {"blk.0.ffn_up.weight", 2, {DIM, FFN}, 0},
        {"blk.0.ffn_down.weight", 2, {FFN, DIM}, 0},
        {"output_norm.weight", 1, {DIM}, 0},
        {"output.weight", 2, {DIM, VOCAB}, 0},
    };
    uint64_t n_tensors = sizeof tensors / sizeof tensors[0];
    if (d == ATTN_Q_SHAPE) tensors[2].ne[1] = 16;
    if (d == Q4_K_TENSOR) tensors[9].type = 12;
    if (d == UNKNOWN_TENSOR_TYPE) tensors[9].type = 99;
    if (d == FIVE_DIMS) {
        tensors[1].n_dims = 5;
        tensors[1].ne[1] = tensors[1].ne[2] = tensors[1].ne[3] = tensors[1].ne[4] = 1;
    }
    if (d == ZERO_DIM) tensors[3].ne[1] = 0;
    if (d == MISSING_TENSOR) {
        memmove(&tensors[8], &tensors[9], 3 * sizeof tensors[0]);
        n_tensors--;
    }

    buffer meta = {0};
    uint64_t n_kvs = write_metadata(&meta, d);
    put(out, d == WRONG_MAGIC ? "GGUX" : "GGUF", 4);
    put_u32(out, d == VERSION_1 ? 1 : 3);
    put_u64(out, d == ABSURD_TENSOR_COUNT ? (uint64_t)1 << 40 : n_tensors);
    put_u64(out, d == ABSURD_KV_COUNT ? (uint64_t)1 << 40 : n_kvs);
    put(out, meta.data, meta.len);
    free(meta.data);

    uint64_t offset = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        const tensor *t = &tensors[i];
        put_str(out, t->name);
        put_u32(out, t->n_dims);
        for (uint32_t k = 0; k < t->n_dims; k++) put_u64(out, t->ne[k]);
        put_u32(out, t->type);
        uint64_t written_offset = offset;
        if (d == OFFSET_PAST_END && i == 5) written_offset = (uint64_t)1 << 40;
        if (d == MISALIGNED_OFFSET && i == 5) written_offset += 4;
        put_u64(out, written_offset);
        offset = align32(offset + tensor_bytes(t));
    }
    static const uint8_t zeros[32];
    put(out, zeros, (size_t)(align32(out->len) - out->len));
    for (uint64_t i = 0; i < n_tensors; i++) {
        const tensor *t = &tensors[i];
        uint64_t bytes = tensor_bytes(t);
        int is_norm = t->n_dims == 1 || (d == FIVE_DIMS && i == 1);
        for (uint64_t k = 0; k < bytes / 4; k++) {
            float v = is_norm ? 1.0f : 0.01f * (float)((k * 7 + i) % 13) - 0.06f;
            put(out, &v, 4);
        }
        put(out, zeros, (size_t)(align32(bytes) - bytes));
    }
}

/* Cuts the file at a point that depends on the defect. */
static size_t truncated_length(defect d, const buffer *b) {
    if (d == TRUNCATED_HEADER) return 12;
    if (d == TRUNCATED_STRING) {
        /* Inside a key string near the end of the metadata, so the kv_count
         * still fits the bytes that remain. */
        const char *needle = "tokenizer.ggml.bos_token_id";
        for (size_t i = 0; i + strlen(needle) <= b->len; i++)
            if (memcmp(b->data + i, needle, strlen(needle)) == 0) return i + 5;
    }
    if (d == DATA_PAST_END) return b->len - 100;
    return b->len;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        fprintf(stderr, "make_bad_models: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* llama2.c legacy checkpoints: 7 int32 header fields, then float32 data. */
static int write_llama2c(const char *dir, const char *name, const int32_t header[7],
                         long long n_floats) {
    buffer b = {0};
    put(&b, header, 28);
    for (long long i = 0; i < n_floats; i++) {
        float v = 0.001f * (float)(i % 17);
        put(&b, &v, 4);
    }
    int rc = write_file(dir, name, b.data, b.len);
    free(b.data);
    return rc;
}

static long long llama2c_floats(const int32_t h[7]) {
    long long dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv = h[4],
              vocab = h[5] < 0 ? -h[5] : h[5], seq = h[6];
    long long head = dim / heads, kv_dim = kv * head;
    long long n = vocab * dim + layers * (2 * dim + dim * dim * 2 + 2 * kv_dim * dim + 3 * dim * hidden) +
                  dim + seq * head;
    if (h[5] < 0) n += vocab * dim;
    return n;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_bad_models OUTPUT_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_bad_models: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    for (int d = 0; d < N_GGUF_CASES; d++) {
        buffer b = {0};
        if (d == GGML_MAGIC) {
            put(&b, "GGML", 4);
            put_u32(&b, 1);
        } else if (d != EMPTY) {
            build_gguf((defect)d, &b);
        }
        int rc = write_file(dir, gguf_files[d], b.data, truncated_length((defect)d, &b));
        free(b.data);
        if (rc != 0) return 1;
    }

    const int32_t good[7] = {16, 32, 1, 4, 2, 8, 4};
    const int32_t heads_not_dividing[7] = {10, 32, 1, 4, 4, 8, 4};
    const int32_t negative_dim[7] = {-16, 32, 1, 4, 2, 8, 4};
    long long n = llama2c_floats(good);
    if (write_llama2c(dir, "good.bin", good, n) != 0 ||
        write_llama2c(dir, "truncated.bin", good, n - 10) != 0 ||
        write_llama2c(dir, "wrong_size.bin", good, n + 3) != 0 ||
        write_llama2c(dir, "heads_not_dividing.bin", heads_not_dividing, 1000) != 0 ||
        write_llama2c(dir, "negative_dim.bin", negative_dim, 1000) != 0)
        return 1;
    return 0;
}
